//! TLS with certificates generated at test time: the client crate and the
//! CLI connect with the CA, plaintext is refused, a rotated certificate is
//! served to new connections without a restart, and mutual TLS refuses a
//! client without a certificate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use frontierwatch_client::{Client, ConnectOptions, TlsOptions};
use frontierwatch_proto::v1::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::harness::{ServerOptions, TestServer, fresh_database};

/// A CA and a certificate it signed for localhost: (ca_pem, cert_pem, key_pem).
pub fn authority(name: &str) -> (String, String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca_key = KeyPair::generate().expect("a CA key");
    let ca = ca_params.self_signed(&ca_key).expect("the CA signs itself");
    let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("params");
    let key = KeyPair::generate().expect("a key");
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let cert = params.signed_by(&key, &issuer).expect("signed");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("written");
    path
}

async fn tls_server(dir: &Path, extra: Vec<(String, String)>) -> (TestServer, String) {
    let (ca, cert, key) = authority("first");
    let cert_file = write(dir, "server.crt", &cert);
    let key_file = write(dir, "server.key", &key);
    let mut env = vec![
        (
            "FRONTIERWATCH_TLS_CERT_FILE".into(),
            cert_file.display().to_string(),
        ),
        (
            "FRONTIERWATCH_TLS_KEY_FILE".into(),
            key_file.display().to_string(),
        ),
    ];
    env.extend(extra);
    let server = TestServer::start_with(ServerOptions {
        database_url: Some(fresh_database().await),
        env,
        ..Default::default()
    })
    .await
    .expect("the TLS server starts");
    (server, ca)
}

fn options(server: &TestServer, ca: &str) -> ConnectOptions {
    let mut options = ConnectOptions::new(format!("https://localhost:{}", server.addr.port()));
    options.auth_token = Some(server.token.clone());
    options.tls = Some(TlsOptions {
        ca_pem: Some(ca.as_bytes().to_vec()),
        ..Default::default()
    });
    options.connect_timeout = Duration::from_secs(2);
    options.retry.max_attempts = 1;
    options
}

async fn list(options: ConnectOptions) -> Result<ListOrganizationsResponse, tonic::Status> {
    let client = Client::connect(options).await.expect("a client");
    client
        .idempotent(|mut c| async move {
            c.list_organizations(ListOrganizationsRequest::default())
                .await
        })
        .await
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fwtls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn clients_connect_over_tls_plaintext_is_refused_and_a_rotated_certificate_is_served() {
    let dir = temp_dir();
    let (server, ca) = tls_server(&dir, Vec::new()).await;
    list(options(&server, &ca))
        .await
        .expect("the client crate connects over TLS");

    // Plaintext gets nowhere.
    let mut plain = ConnectOptions::new(format!("http://{}", server.addr));
    plain.auth_token = Some(server.token.clone());
    plain.connect_timeout = Duration::from_secs(2);
    plain.request_timeout = Some(Duration::from_secs(2));
    plain.retry.max_attempts = 1;
    assert!(list(plain).await.is_err(), "plaintext is refused");

    // The CLI with the CA file.
    let ca_file = write(&dir, "ca.crt", &ca);
    let fwatch = || {
        let mut command = std::process::Command::new(crate::harness::fwatch());
        command
            .args([
                "--server",
                &format!("https://localhost:{}", server.addr.port()),
            ])
            .arg("--ca-file")
            .arg(&ca_file);
        command
    };
    let output = fwatch()
        .args([
            "--token",
            &server.token,
            "create",
            "organizations",
            "--id",
            "lab",
            "-f",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"displayName: Lab")?;
            child.wait_with_output()
        })
        .expect("fwatch runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Rotation: a certificate from another CA replaces the files in place;
    // new connections get it without a restart.
    let (ca2, cert2, key2) = authority("second");
    write(&dir, "server.key", &key2);
    write(&dir, "server.crt", &cert2);
    let mut rotated = false;
    for _ in 0..50 {
        if list(options(&server, &ca2)).await.is_ok() {
            rotated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rotated, "the rotated certificate is served");
    assert!(
        list(options(&server, &ca)).await.is_err(),
        "the old CA no longer verifies the server"
    );
    // The CLI given the wrong CA says so and exits non-zero.
    let output = fwatch()
        .args(["--token", &server.token, "list", "organizations"])
        .output()
        .expect("fwatch runs");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{said}");
    assert!(
        said.contains("error:") && said.contains("certificate"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_a_certificate() {
    let dir = temp_dir();
    let (client_ca, client_cert, client_key) = authority("clients");
    let client_ca_file = write(&dir, "clients-ca.crt", &client_ca);
    let (server, ca) = tls_server(
        &dir,
        vec![(
            "FRONTIERWATCH_TLS_CLIENT_CA_FILE".into(),
            client_ca_file.display().to_string(),
        )],
    )
    .await;
    assert!(
        list(options(&server, &ca)).await.is_err(),
        "no client certificate"
    );
    let mut with_identity = options(&server, &ca);
    if let Some(tls) = with_identity.tls.as_mut() {
        tls.identity = Some((client_cert.into_bytes(), client_key.into_bytes()));
    }
    list(with_identity)
        .await
        .expect("a client certificate from the CA is accepted");
    let _ = std::fs::remove_dir_all(dir);
}

/// The server reaches PostgreSQL with `sslmode=verify-full`: it verifies
/// the database's certificate against the CA given in `sslrootcert`, and
/// refuses to start when another CA signed it.
#[tokio::test]
async fn postgresql_connections_verify_the_server_certificate() {
    use frontierwatch_server::embedded::{EmbeddedPostgres, find_bin_dir};
    let dir = temp_dir();
    let data = dir.join("pg");
    let bin = find_bin_dir(None).expect("PostgreSQL binaries");
    // Initialize, then restart with TLS on TCP.
    let data_for_init = data.clone();
    let bin_for_init = bin.clone();
    tokio::task::spawn_blocking(move || {
        EmbeddedPostgres::start(&data_for_init, &bin_for_init)
            .expect("initializes")
            .stop()
    })
    .await
    .expect("init");
    let (ca, cert, key) = authority("database");
    write(&data, "server.crt", &cert);
    let key_file = write(&data, "server.key", &key);
    for file in ["server.crt", "server.key"] {
        let _ = std::process::Command::new("chown")
            .args(["postgres:postgres"])
            .arg(data.join(file))
            .status();
    }
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("key mode");
    let ca_file = write(&dir, "db-ca.crt", &ca);
    let (other_ca, _, _) = authority("other");
    let other_ca_file = write(&dir, "other-ca.crt", &other_ca);
    let data_for_tls = data.clone();
    let mut pg = tokio::task::spawn_blocking(move || {
        EmbeddedPostgres::start_with(
            &data_for_tls,
            &bin,
            "-c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key",
        )
        .expect("starts with TLS")
    })
    .await
    .expect("start");

    let url = |root: &Path| {
        format!(
            "postgres://postgres@localhost:5432/postgres?sslmode=verify-full&sslrootcert={}",
            root.display()
        )
    };
    let server = TestServer::start_with(ServerOptions {
        database_url: Some(url(&ca_file)),
        ..Default::default()
    })
    .await
    .expect("the server verifies the database and starts");
    let mut c = server.client().await;
    crate::fixtures::create_org(&mut c, "lab").await;
    let pool = server.pool().await;
    let (encrypted,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
          WHERE s.ssl AND a.application_name <> 'psql' AND a.pid <> pg_backend_pid()",
    )
    .fetch_one(&pool)
    .await
    .expect("pg_stat_ssl");
    assert!(encrypted >= 1, "the server's connections are encrypted");
    drop(server);

    let refused = TestServer::start_with(ServerOptions {
        database_url: Some(url(&other_ca_file)),
        ..Default::default()
    })
    .await;
    let output = refused
        .err()
        .expect("a database signed by another CA is refused");
    assert!(
        output.contains("cannot connect to the database"),
        "{output}"
    );
    tokio::task::spawn_blocking(move || pg.stop())
        .await
        .expect("stops");
    let _ = std::fs::remove_dir_all(dir);
}
