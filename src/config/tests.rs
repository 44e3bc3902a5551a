use super::*;
use clap::Args as _;

#[test]
fn default_toml_parses_to_the_built_in_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let text = std::fs::read_to_string(&path).expect("config/default.toml exists");
    let parsed = Config::from_toml(&text, &path).expect("default.toml parses");
    parsed.validate().expect("default.toml validates");
    let mut builtin = serde_json::to_value(Config::default()).unwrap();
    let mut file = serde_json::to_value(&parsed).unwrap();
    // The default user agent embeds the version; the file shows it as written.
    builtin["user_agent"] = serde_json::Value::Null;
    file["user_agent"] = serde_json::Value::Null;
    assert_eq!(
        builtin, file,
        "config/default.toml must match Config::default()"
    );
}

#[test]
fn default_toml_documents_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let text = std::fs::read_to_string(path).unwrap();
    for key in Config::keys() {
        let documented = text.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
        });
        assert!(documented, "config/default.toml does not document `{key}`");
    }
}

/// A setting is declared once: every key of the config file has a flag of the
/// same name, and every flag of `trawl crawl` but the command's own is a key.
#[test]
fn every_key_has_a_flag_and_every_flag_a_key() {
    // Config-file only: a list of tables has no sensible flag.
    const FILE_ONLY: &[&str] = &["rules", "hosts"];
    let cmd = Config::augment_args(clap::Command::new("crawl"));
    let flags: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| {
            a.get_long()
                .map(|l| (a.get_id().to_string(), l.to_string()))
        })
        .map(|(id, long)| {
            // One flag is spelled as curl and wget spell it: `--header`, repeated,
            // fills the `[headers]` table.
            let expected = match id.as_str() {
                "headers" => "header".to_string(),
                _ => id.replace('_', "-"),
            };
            assert_eq!(long, expected, "flag --{long} is not its key's name");
            id
        })
        .collect();
    let keys = Config::keys();
    for key in &keys {
        assert!(
            flags.contains(key) || FILE_ONLY.contains(&key.as_str()),
            "config key `{key}` has no flag"
        );
    }
    for flag in &flags {
        assert!(keys.contains(flag), "flag --{flag} has no config key");
    }
    assert!(!flags.iter().any(|f| FILE_ONLY.contains(&f.as_str())));
}

#[test]
fn flags_given_overwrite_the_file_and_no_others() {
    let file = "per_host_rate = 5.0\nwarc = true\ninclude = ['a']\nmax_depth = 3\nquiet = true\n";
    let mut c = Config::from_toml(file, Path::new("c.toml")).unwrap();
    let cmd = Config::augment_args(clap::Command::new("crawl"));
    let m = cmd
        .try_get_matches_from(["crawl", "--timeout", "7", "--warc=false", "--include", "b"])
        .unwrap();
    c.apply_flags(&m).unwrap();
    assert_eq!(c.fetch.timeout, 7.0);
    assert!(!c.output.warc);
    assert_eq!(c.scope.include, ["b"]);
    // Not given: the file's values stay.
    assert_eq!(c.politeness.per_host_rate, 5.0);
    assert_eq!(c.scope.max_depth, Some(3));
    assert!(c.run.quiet);
}

#[test]
fn unknown_key_and_negative_number_are_one_line_errors_with_a_line() {
    let e = Config::from_toml("concurrency = 4\nfoo = 1\n", Path::new("c.toml")).unwrap_err();
    let s = e.to_string();
    assert!(s.contains("line 2") && s.contains("foo"), "{s}");
    let e = Config::from_toml("\n\nmax_pages = -3\n", Path::new("c.toml")).unwrap_err();
    let s = e.to_string();
    assert!(s.contains("line 3"), "{s}");
    assert!(!s.contains('\n'));
    let e = Config::from_toml("warc = true\n[[rules]]\nname = 1\n", Path::new("c.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 3"), "{e}");
}

#[test]
fn validate_rejects_absurd_values_and_bad_regexes() {
    let mut c = Config::default();
    c.politeness.concurrency = 0;
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("concurrency"));
    let mut c = Config::default();
    c.politeness.per_host_rate = f64::NAN;
    assert!(c.validate().is_err());
    let mut c = Config::default();
    c.scope.include = vec!["(".into()];
    let s = c.validate().unwrap_err().to_string();
    assert!(s.contains("include") && s.contains("'('"), "{s}");
}

#[test]
fn shared_crawl_keys_are_checked() {
    let check = |f: &dyn Fn(&mut Config)| {
        let mut c = Config::default();
        f(&mut c);
        c.validate().err().map(|e| e.to_string())
    };
    let redis: Backend = "redis://h:6379/0".parse().unwrap();
    assert_eq!(check(&|c| c.frontier.backend = redis.clone()), None);
    let e = Config::from_toml("\nfrontier = \"mysql://x\"\n", Path::new("c.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 2") && e.contains("invalid frontier: 'mysql://x' is neither"),
        "{e}"
    );
    assert!(check(&|c| c.frontier.crawl_id = "a b".into())
        .unwrap()
        .starts_with("invalid crawl_id"));
    for bad in ["123", "w-00001", "w/1", ""] {
        let e = check(&|c| c.frontier.worker_id = Some(bad.into()));
        assert!(
            e.is_some_and(|e| e.starts_with("invalid worker_id")),
            "{bad}"
        );
    }
    for good in ["w1", "host.42", "node-a"] {
        assert_eq!(
            check(&|c| c.frontier.worker_id = Some(good.into())),
            None,
            "{good}"
        );
    }
    assert!(check(&|c| c.frontier.lease_ttl = 1.0)
        .unwrap()
        .starts_with("invalid lease_ttl"));
    assert!(check(&|c| c.run.metrics = Some("localhost".into()))
        .unwrap()
        .starts_with("invalid metrics"));
    let e = check(&|c| {
        c.frontier.backend = redis.clone();
        c.output.fresh = true;
    })
    .unwrap();
    assert!(e.contains("use a new --crawl-id"), "{e}");
    // The default worker name is one a pages file can carry.
    let mut c = Config::default();
    c.frontier.worker_id = Some(c.worker_name());
    assert_eq!(c.validate().err().map(|e| e.to_string()), None);
    // Settings every process must share: politeness in, output out.
    let shared = Config::default().shared_settings();
    assert!(shared.contains_key("per_host_rate") && shared.contains_key("scope"));
    // What is crawled: a process fetching requisites and one not would disagree.
    assert!(shared.contains_key("page_requisites") && shared.contains_key("skip_extensions"));
    assert!(!shared.contains_key("out") && !shared.contains_key("concurrency"));
}

/// The robots.txt name is the User-Agent's leading letters, `-` and `_`: all a
/// `User-agent:` line can name as Google reads it.
#[test]
fn robots_agent_is_the_product_token() {
    assert_eq!(Config::default().robots_agent(), "trawl");
    let mut c = Config::default();
    for (ua, token) in [
        ("MyBot/2.0 (+http://x)", "MyBot"),
        ("trawl/0.1 (+https://x)", "trawl"),
        ("  Foo Bar", "Foo"),
        ("my-bot_x/1", "my-bot_x"),
        ("bot9/1.0", "bot"),
        ("Mozilla/5.0 (compatible; MyBot/1.0)", "Mozilla"),
    ] {
        c.fetch.user_agent = ua.into();
        assert_eq!(c.robots_agent(), token, "{ua}");
        assert!(c.validate().is_ok(), "{ua}");
    }
    // A User-Agent with no product token is one no robots.txt could name.
    for ua in ["9bot/1.0", "(compatible; x)", "*", "/x"] {
        c.fetch.user_agent = ua.into();
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("user_agent") && e.contains("product token"),
            "{ua}: {e}"
        );
    }
}

#[test]
fn metrics_takes_ip_port_or_port_alone() {
    use super::listen_addr;
    assert_eq!(
        listen_addr(":9090").map(|a| a.to_string()),
        Ok("0.0.0.0:9090".into())
    );
    assert_eq!(
        listen_addr("127.0.0.1:0").map(|a| a.to_string()),
        Ok("127.0.0.1:0".into())
    );
    assert_eq!(
        listen_addr("[::1]:9").map(|a| a.to_string()),
        Ok("[::1]:9".into())
    );
    for bad in ["9090", ":", ":x", "localhost:9090", ""] {
        assert!(listen_addr(bad).is_err(), "{bad}");
    }
    let mut config = Config::default();
    config.run.metrics = Some(":9090".into());
    assert!(config.validate().is_ok());
}

#[test]
fn headers_are_checked_and_read_from_a_table() {
    let h: Header = "X-Api-Key:  k1 ".parse().unwrap();
    assert_eq!((h.name.as_str(), h.value.as_str()), ("x-api-key", "k1"));
    for bad in [
        "NoColon",
        "Bad Name: x",
        "Host: h",
        "User-Agent: x",
        "X-A: a\u{7f}b",
    ] {
        assert!(bad.parse::<Header>().is_err(), "{bad}");
    }
    let long = format!("X-Long: {}", "a".repeat(MAX_HEADER_VALUE + 1));
    assert!(long.parse::<Header>().is_err());
    let c = Config::from_toml(
        "[headers]\n\"X-B\" = \"2\"\n\"x-a\" = \"1\"\n",
        Path::new("c.toml"),
    )
    .unwrap();
    let mut names: Vec<&str> = c.fetch.headers.iter().map(|h| h.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["x-a", "x-b"]);
    let e = Config::from_toml("[headers]\n\"Host\" = \"x\"\n", Path::new("c.toml")).unwrap_err();
    assert!(e.to_string().contains("decided by trawl"), "{e}");
    assert!(Header::is_secret("Authorization") && Header::is_secret("cookie"));
    assert!(!Header::is_secret("accept"));
}

#[test]
fn proxy_urls_are_checked_without_repeating_them() {
    for good in [
        "http://127.0.0.1:3128",
        "https://proxy.example:443",
        "socks5h://u:p@127.0.0.1:1080",
    ] {
        assert!(proxy_url(good).is_ok(), "{good}");
    }
    for bad in [
        "socks5://u:secret@h:1",
        "ftp://u:secret@h:21",
        "secret",
        "http://u:secret@",
    ] {
        let e = proxy_url(bad).unwrap_err();
        assert!(!e.contains("secret"), "{bad}: {e}");
    }
}

/// A fleet agrees on `[[hosts]]` politeness (a process with another rate is
/// refused at join), and its credentials never reach the settings Redis keeps.
#[test]
fn hosts_politeness_is_shared_and_its_secrets_are_not() {
    let mut config = Config::default();
    assert!(!config.shared_settings().contains_key("host_politeness"));
    config.fetch.hosts = vec![HostRule {
        pattern: "a.test".into(),
        rate: Some(0.5),
        basic_auth: Some("u:s3cret".into()),
        cookies: [("sid".to_string(), "c00kie".to_string())].into(),
        ..HostRule::default()
    }];
    let shared = serde_json::to_string(&config.shared_settings()).unwrap();
    assert!(
        shared.contains(r#""host_politeness":[["a.test",0.5,null]]"#),
        "{shared}"
    );
    assert!(
        !shared.contains("s3cret") && !shared.contains("c00kie"),
        "{shared}"
    );
}

/// Cookies need the jar: a cookies file or a table's cookies with `no_cookies` is a
/// contradiction, said in one line rather than silently dropped.
#[test]
fn cookies_without_the_jar_are_refused() {
    let mut c = Config::default();
    c.fetch.no_cookies = true;
    c.fetch.cookies = Some("cookies.txt".into());
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("no_cookies") && !e.contains('\n'), "{e}");
    c.fetch.cookies = None;
    c.fetch.hosts = vec![HostRule {
        pattern: "a.test".into(),
        cookies: [("sid".to_string(), "1".to_string())].into(),
        ..HostRule::default()
    }];
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("[[hosts]]") && e.contains("no_cookies"), "{e}");
    c.fetch.no_cookies = false;
    assert!(c.validate().is_ok());
}

/// A rate so slow it looks like a hang is refused, for the crawl and for a table;
/// so is a second table for a pattern, which could never apply.
#[test]
fn rates_are_range_checked_and_tables_are_not_repeated() {
    let mut c = Config::default();
    for (rate, ok) in [
        (0.0, true),
        (1.0 / 3600.0, true),
        (100_000.0, true),
        (1e-7, false),
        (-1.0, false),
        (f64::INFINITY, false),
        (f64::NAN, false),
    ] {
        c.politeness.per_host_rate = rate;
        assert_eq!(c.validate().is_ok(), ok, "per_host_rate {rate}");
        c.politeness.per_host_rate = 1.0;
        c.fetch.hosts = vec![HostRule {
            pattern: "a.test".into(),
            rate: Some(rate),
            ..HostRule::default()
        }];
        assert_eq!(c.validate().is_ok(), ok, "table rate {rate}");
        c.fetch.hosts.clear();
    }
    let table = |p: &str| HostRule {
        pattern: p.into(),
        ..HostRule::default()
    };
    c.fetch.hosts = vec![table("a.test"), table("*.a.test"), table("a.test")];
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("two tables match 'a.test'"), "{e}");
}
