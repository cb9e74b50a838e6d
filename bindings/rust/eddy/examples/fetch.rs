//! Fetches URLs concurrently with eddy's HTTP client (HttpClient, Tornado's AsyncHTTPClient)
//! and prints one line per URL as each completes:
//!
//!     fetch [--insecure] [--ca FILE] [--max-clients N] [--timeout SECONDS] URL...
//!
//! `<url> <code> <reason> <n> bytes <effective url>` for a response (any status), or
//! `<url> error <EDDY_E...>` for a failure. Exit status 1 when a fetch failed.
use std::cell::Cell;
use std::rc::Rc;

use eddy::{HttpClient, HttpRequest, Loop};

fn usage() -> ! {
    eprintln!("usage: fetch [--insecure] [--ca FILE] [--max-clients N] [--timeout SECONDS] URL...");
    std::process::exit(2);
}

fn main() {
    let lp = Loop::new().expect("loop");
    let mut client = HttpClient::new(&lp).expect("client");
    let mut timeout = 20.0;
    let mut urls = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let check = |r: eddy::Result<()>| {
            if let Err(e) = r {
                eprintln!("fetch: {}: {}", arg, e);
                std::process::exit(2);
            }
        };
        match arg.as_str() {
            "--insecure" => check(client.validate_cert(false)),
            "--ca" => check(client.ca_file(args.next().unwrap_or_else(|| usage()))),
            "--max-clients" => {
                let n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage());
                check(client.set_max_clients(n));
            }
            "--timeout" => {
                timeout = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            _ if arg.starts_with("--") => usage(),
            _ => urls.push(arg),
        }
    }
    if urls.is_empty() {
        usage();
    }
    let pending = Rc::new(Cell::new(urls.len()));
    let failed = Rc::new(Cell::new(false));
    for url in urls {
        let (left, failure, lp_done) = (pending.clone(), failed.clone(), lp.clone());
        let shown = url.clone();
        let started = client.fetch(
            HttpRequest::new(&url).request_timeout(timeout),
            move |outcome| {
                match outcome {
                    Ok(res) => println!(
                        "{} {} {} {} bytes {}",
                        shown,
                        res.code(),
                        res.reason(),
                        res.body().len(),
                        res.effective_url()
                    ),
                    Err(e) => {
                        println!("{} error {}", shown, e.name());
                        failure.set(true);
                    }
                }
                left.set(left.get() - 1);
                if left.get() == 0 {
                    lp_done.stop();
                }
            },
        );
        if let Err(e) = started {
            println!("{} error {}", url, e.name());
            failed.set(true);
            pending.set(pending.get() - 1);
        }
    }
    if pending.get() > 0 {
        lp.run().expect("run");
    }
    std::process::exit(if failed.get() { 1 } else { 0 });
}
