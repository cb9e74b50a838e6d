//! Hello world: `GET /` → "Hello, World!" (text/plain). Also the Rust entry of
//! bench/bindings.sh.
//!
//!     hello [--port N] [--address A]
//!
//! Prints "listening on A:N" once the socket is open; SIGINT/SIGTERM stop it.
use eddy::{App, Loop, SIGINT, SIGTERM};

fn main() {
    let mut address = String::from("127.0.0.1");
    let mut port: u16 = 8080;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(v)) => port = v.parse().expect("--port takes a number"),
            ("--address", Some(v)) => address = v,
            _ => {
                eprintln!("usage: hello [--port N] [--address A]");
                std::process::exit(2);
            }
        }
    }
    let lp = Loop::new().expect("loop");
    let mut app = App::new(&lp).expect("app");
    app.route("/").expect("route").get(|_req, res| {
        res.set_header("Content-Type", "text/plain")?;
        res.write("Hello, World!")
    });
    if let Err(e) = app.listen(&address, port) {
        eprintln!("hello: cannot listen on {}:{}: {}", address, port, e);
        std::process::exit(1);
    }
    lp.stop_on_signals(&[SIGINT, SIGTERM]).expect("signals");
    println!("listening on {}:{}", address, app.port().unwrap_or(port));
    lp.run().expect("run");
}
