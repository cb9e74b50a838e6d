//! Self-signed ECDSA certificates made by the `openssl` command at test time.
use std::path::PathBuf;
use std::process::Command;

/// A temporary directory with self-signed ECDSA certificates: "server" (127.0.0.1, localhost),
/// "client" and "named" (example.invalid only, for hostname_mapping over https); removed on
/// drop.
pub struct Certs {
    dir: PathBuf,
}

impl Certs {
    pub fn make(name: &str) -> Certs {
        let dir =
            std::env::temp_dir().join(format!("eddy-rust-tls-{}-{}", std::process::id(), name));
        std::fs::create_dir_all(&dir).unwrap();
        let made = [
            ("server", "DNS:localhost,IP:127.0.0.1"),
            ("client", "DNS:client.test"),
            ("named", "DNS:example.invalid"),
        ];
        for (who, san) in made {
            let status = Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                ])
                .args([
                    "-keyout",
                    &format!("{}.key", who),
                    "-out",
                    &format!("{}.crt", who),
                ])
                .args([
                    "-subj",
                    &format!("/CN={}", who),
                    "-addext",
                    &format!("subjectAltName={}", san),
                    "-days",
                    "2",
                ])
                .current_dir(&dir)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("openssl");
            assert!(status.success(), "openssl req failed");
        }
        Certs { dir }
    }
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
