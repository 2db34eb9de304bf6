//! What the store benches share: running one bench on SQLite and on a throwaway PostgreSQL
//! database.

use bellhop::config::DatabaseConfig;
use criterion::Criterion;
use secrecy::SecretString;

/// `url` with its database name replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rfind('/').map_or(base, |i| &base[..i]);
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

async fn admin(url: &str) -> Option<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .ok()?;
    actix_rt::spawn(async move {
        let _ = conn.await;
    });
    Some(client)
}

/// Runs `bench` on a fresh SQLite file, then on a fresh PostgreSQL database taken from
/// `BELLHOP_BENCH_DATABASE_URL` (default: the local server as `postgres`), dropped afterwards.
pub fn on_both_backends(
    c: &mut Criterion,
    system: &actix_rt::SystemRunner,
    bench: fn(&mut Criterion, &actix_rt::SystemRunner, &str, &DatabaseConfig),
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = DatabaseConfig::Sqlite {
        path: dir.path().join("bench.db"),
    };
    bench(c, system, "sqlite", &sqlite);

    let admin_url = std::env::var("BELLHOP_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("bellhop_bench_{}", std::process::id());
    match system.block_on(admin(&admin_url)) {
        Some(client) => {
            system
                .block_on(client.batch_execute(&format!("CREATE DATABASE \"{name}\"")))
                .expect("create bench database");
            let pg = DatabaseConfig::Postgres {
                url: SecretString::from(with_database(&admin_url, &name)),
            };
            bench(c, system, "postgres", &pg);
            let _ =
                system
                    .block_on(client.batch_execute(&format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )));
        }
        None => eprintln!("PostgreSQL unreachable at BELLHOP_BENCH_DATABASE_URL: skipping it"),
    }
}
