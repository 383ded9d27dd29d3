//! The shipped sample logs (examples/mariadb-general.log and mariadb-slow.log, written by a
//! real MariaDB run of examples/generate-mariadb.sh) read without a complaint, and the two
//! logs of the same run agree statement by statement.

mod common;

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use querycomb_core::OwnedEvent;
use querycomb_logs::{sniff, LogFormat};

use querycomb_core::Collected as Collect;

fn read_example(name: &str, format: LogFormat) -> Vec<OwnedEvent> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let head = std::fs::read(&path).expect("example log");
    assert_eq!(sniff(&head), Some(format), "{name}");
    let mut sink = Collect::default();
    let mut input = BufReader::new(File::open(&path).expect("open"));
    let stats = common::read(format, &mut input, &mut sink);
    assert!(sink.errors.is_empty(), "{name}: {:?}", sink.errors);
    assert_eq!(stats.malformed, 0);
    assert_eq!(stats.events, sink.events.len() as u64);
    sink.events
}

#[test]
fn general_and_slow_samples_agree() {
    let general = read_example("mariadb-general.log", LogFormat::MySqlGeneral);
    let slow = read_example("mariadb-slow.log", LogFormat::MySqlSlow);
    let key = |e: &OwnedEvent| {
        (
            e.session.clone(),
            e.user.clone(),
            e.database.clone(),
            e.sql.clone(),
        )
    };
    let general_keys: Vec<_> = general.iter().map(key).collect();
    let slow_keys: Vec<_> = slow.iter().map(key).collect();
    assert_eq!(general_keys, slow_keys);
    assert!(slow
        .iter()
        .all(|e| e.duration_us.is_some() && e.rows.is_some()));
    for (g, s) in general.iter().zip(&slow) {
        // Both logs have whole seconds, written by one clock.
        let (g, s) = (g.time.unwrap(), s.time.unwrap());
        assert!((g - s).abs() <= 1_000_000, "{g} vs {s}");
    }
}

#[test]
fn general_sample_has_the_loops() {
    let events = read_example("mariadb-general.log", LogFormat::MySqlGeneral);
    let lookups: Vec<_> = events
        .iter()
        .filter(|e| {
            e.sql.starts_with("SELECT * FROM customers WHERE id = ")
                && e.sql.ends_with("/*route='%2Forders'*/")
        })
        .collect();
    assert_eq!(lookups.len(), 8);
    let web = &lookups[0].session;
    assert!(lookups
        .iter()
        .all(|e| &e.session == web && e.user.as_deref() == Some("app")));
    let executed: Vec<_> = events
        .iter()
        .filter(|e| e.prepared_name.as_deref() == Some("items_of_order"))
        .map(|e| e.sql.as_str())
        .collect();
    assert_eq!(executed.len(), 6);
    assert_eq!(
        executed[0],
        "SELECT sku, qty FROM order_items WHERE order_id = 6"
    );
    assert!(!events.iter().any(|e| e.sql.starts_with("EXECUTE ")));
    let repeated: Vec<_> = events
        .iter()
        .filter(|e| e.sql == "SELECT id, name, email FROM customers WHERE id = 7")
        .collect();
    assert_eq!(repeated.len(), 6);
    assert_ne!(&repeated[0].session, web);
    assert!(events.iter().any(|e| e
        .sql
        .starts_with("SELECT post_id,\n       COUNT(*)\n  FROM comments\n")));
}

#[test]
fn postgres_samples_are_never_taken_for_mysql() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("postgresql") {
            continue;
        }
        let data = std::fs::read(&path).expect("sample");
        for head in [&data[..data.len().min(8192)], &data[..]] {
            assert_eq!(querycomb_logs::mysql::sniff(head), None, "{name}");
        }
        // Read as MySQL anyway (a user forcing the format): complaints, no events.
        for format in [LogFormat::MySqlGeneral, LogFormat::MySqlSlow] {
            let mut sink = Collect::default();
            let mut input = &data[..];
            let stats = common::read(format, &mut input, &mut sink);
            assert_eq!(stats.events, 0, "{name} as {format:?}");
            assert!(stats.malformed > 0, "{name} as {format:?}");
        }
        checked += 1;
    }
    assert!(
        checked >= 3,
        "PostgreSQL samples missing from {}",
        dir.display()
    );
}
