"""Minimal Scrapy crawler for trawl's side-by-side benchmark (bench/compare.sh).

usage: scrapy runspider bench/scrapy_bench.py -a start=http://127.0.0.1:PORT/

Follows every link on the start URL's host (CrawlSpider + default LinkExtractor), keeps
no items, obeys robots.txt, 64 concurrent requests (per domain too: the default of 8
per domain would throttle a single-host crawl), no delay, no autothrottle. Prints the
pages crawled (responses received) when it closes.
"""
from urllib.parse import urlsplit

from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule


class BenchSpider(CrawlSpider):
    name = "bench"
    custom_settings = {
        "CONCURRENT_REQUESTS": 64,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 64,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "ROBOTSTXT_OBEY": True,
        "LOG_LEVEL": "ERROR",
        "TELNETCONSOLE_ENABLED": False,
    }
    rules = (Rule(LinkExtractor(), follow=True),)

    def __init__(self, start="http://127.0.0.1:18099/", *args, **kwargs):
        self.start_urls = [start]
        self.allowed_domains = [urlsplit(start).hostname]
        super().__init__(*args, **kwargs)

    def closed(self, reason):
        s = self.crawler.stats
        print(f"scrapy pages_crawled {s.get_value('response_received_count', 0)} "
              f"ok {s.get_value('downloader/response_status_count/200', 0)} reason {reason}")
