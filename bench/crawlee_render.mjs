// The rendering benchmark's peer: Crawlee's PuppeteerCrawler driving the same
// installed Chromium (puppeteer-core, no browser download), the same concurrency
// and the same wait (the links built by script). Installed under /work/peers/crawlee
// (`npm install crawlee@3 puppeteer-core`); run with NODE_PATH pointing there.
//
// usage: node bench/crawlee_render.mjs START_URL CHROMIUM TABS
import { createRequire } from 'node:module';
import path from 'node:path';
const require = createRequire(path.join(process.env.PEER_DIR, 'package.json'));
const { PuppeteerCrawler, Configuration } = require('crawlee');
const puppeteer = require('puppeteer-core');

const [start, executablePath, tabs] = process.argv.slice(2);
const n = Number(tabs);
let pages = 0;
const config = new Configuration({ persistStorage: false, logLevel: 'WARNING' });
const crawler = new PuppeteerCrawler({
  launchContext: {
    launcher: puppeteer,
    useChrome: false,
    launchOptions: {
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    },
  },
  browserPoolOptions: { useFingerprints: false },
  minConcurrency: n,
  maxConcurrency: n,
  maxRequestRetries: 0,
  navigationTimeoutSecs: 20,
  requestHandlerTimeoutSecs: 30,
  async requestHandler({ page, enqueueLinks }) {
    await page.waitForSelector('#root a', { timeout: 20000 });
    pages += 1;
    await enqueueLinks({ selector: '#root a' });
  },
}, config);
await crawler.run([start]);
console.log(JSON.stringify({ pages }));
