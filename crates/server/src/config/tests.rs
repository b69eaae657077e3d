//! The configuration's unit tests: defaults, the layers in order, typed values, bad values
//! named in one line, no secret shown.

use std::path::Path;
use std::time::Duration;

use domain::Destinations;
use infra_sqlite::Synchronous;

use super::*;

fn load(env: &[(&str, &str)], dir: &Path) -> Result<Settings, ConfigError> {
    Settings::load_from(env.iter().map(|(k, v)| (k.to_string(), v.to_string())), dir)
}

#[test]
fn defaults() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(&[], dir.path()).unwrap();
    assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 3000));
    assert!(matches!(
        s.storage,
        StorageSettings::Sqlite { ref path, synchronous: Synchronous::Full, max_size_bytes: None }
            if path == Path::new("./data/sessions.db")
    ));
    assert_eq!(s.limits.payload_bytes, 65_536);
    assert_eq!(s.limits.page_max, 500);
    assert_eq!(s.log_format, LogFormat::Pretty);
}

#[test]
fn retention_durations() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(&[], dir.path()).unwrap();
    assert_eq!(
        s.retention,
        app::Retention {
            sessions: None,
            tombstones: Duration::from_secs(30 * 86_400),
            every: Duration::from_secs(3_600),
        }
    );
    let s = load(
        &[
            ("RETENTION", "90d"),
            ("RETENTION_SWEEP_INTERVAL", "30s"),
            ("TOMBSTONE_RETENTION", "500ms"),
        ],
        dir.path(),
    )
    .unwrap();
    assert_eq!(s.retention.sessions, Some(Duration::from_secs(90 * 86_400)));
    assert_eq!(s.retention.every, Duration::from_secs(30));
    assert_eq!(s.retention.tombstones, Duration::from_millis(500));
    for (key, bad) in [
        ("RETENTION", "90"),
        ("RETENTION", "0d"),
        ("RETENTION", "1w"),
        ("RETENTION", "-5s"),
        ("RETENTION_SWEEP_INTERVAL", "soon"),
        ("TOMBSTONE_RETENTION", "99999999999999d"),
    ] {
        let e = load(&[(key, bad)], dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(key) && e.contains("duration"),
            "{key}={bad}: {e}"
        );
        assert_eq!(e.lines().count(), 1);
    }
}

#[test]
fn layers_override_in_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("service.toml"),
        "port = 4000\nhost = \"0.0.0.0\"\nworkers = 3\nmongo_write_concern = 2\nallow_open = true\n",
    )
    .unwrap();
    let s = load(&[], dir.path()).unwrap();
    assert_eq!(
        (s.host.as_str(), s.port, s.workers),
        ("0.0.0.0", 4000, Some(3))
    );
    let s = load(&[("PORT", "5000")], dir.path()).unwrap();
    assert_eq!((s.host.as_str(), s.port), ("0.0.0.0", 5000));
    // `.env` beats the file ...
    std::fs::write(dir.path().join(".env"), "PORT=6000\nWORKERS=4\n").unwrap();
    let s = load(&[], dir.path()).unwrap();
    assert_eq!((s.port, s.workers), (6000, Some(4)));
    // ... and the process environment beats `.env` (SPEC "Configuration").
    let s = load(&[("PORT", "5000")], dir.path()).unwrap();
    assert_eq!((s.port, s.workers), (5000, Some(4)));
}

#[test]
fn a_config_file_named_in_dotenv_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("other.toml"), "port = 4100\n").unwrap();
    std::fs::write(dir.path().join(".env"), "CONFIG_FILE=other.toml\n").unwrap();
    assert_eq!(load(&[], dir.path()).unwrap().port, 4100);
}

#[test]
fn typed_values_from_each_layer() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("service.toml"),
        "log_format = \"json\"\nsqlite_synchronous = \"normal\"\nsqlite_max_size_mb = 2\n",
    )
    .unwrap();
    let s = load(&[("KEEP_ALIVE_SECONDS", " 7 ")], dir.path()).unwrap();
    assert_eq!(s.log_format, LogFormat::Json);
    assert!(matches!(
        s.storage,
        StorageSettings::Sqlite {
            synchronous: Synchronous::Normal,
            max_size_bytes: Some(2_097_152),
            ..
        }
    ));
    assert_eq!(s.keep_alive, Duration::from_secs(7));
    // An empty optional variable is an unset one.
    let s = load(&[("WORKERS", ""), ("MONGO_URI", "")], dir.path()).unwrap();
    assert_eq!(s.workers, None);
    assert!(matches!(s.storage, StorageSettings::Sqlite { .. }));
}

#[test]
fn mongo_uri_or_db_uri_selects_mongo() {
    let dir = tempfile::tempdir().unwrap();
    for key in ["MONGO_URI", "DB_URI"] {
        let s = load(
            &[
                (key, "mongodb://h/"),
                ("MONGO_DB", "x"),
                ("MONGO_WRITE_CONCERN", "3"),
            ],
            dir.path(),
        )
        .unwrap();
        assert!(matches!(
            s.storage,
            StorageSettings::Mongo { ref database, write_concern: WriteConcern::Nodes(3), .. }
                if database == "x"
        ));
    }
}

#[test]
fn bad_values_name_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("PAYLOAD_LIMIT_BYTES", "-1"),
        ("LOG_FORMAT", "xml"),
        ("SQLITE_SYNCHRONOUS", "off"),
        ("PAGE_DEFAULT_LIMIT", "900"),
        ("BODY_LIMIT_BYTES", "100"),
        ("HOST", ""),
        ("STORAGE_TIMEOUT_MS", "0"),
        ("WORKERS", "0"),
        ("MONGO_WRITE_CONCERN", "most"),
        ("STREAM_MAX_PER_PROJECT", "-3"),
        ("RATE_LIMIT_PER_KEY", "0"),
        ("RATE_LIMIT_PER_KEY", "ten"),
    ] {
        let err = load(&[(key, value)], dir.path()).unwrap_err().to_string();
        assert!(err.contains(key), "{key}={value}: {err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
    let err = load(
        &[
            ("MONGO_URI", "mongodb://h/"),
            ("MONGO_WRITE_CONCERN", "most"),
        ],
        dir.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("MONGO_WRITE_CONCERN"), "{err}");
    let err = load(&[("CONFIG_FILE", "missing.toml")], dir.path()).unwrap_err();
    assert!(err.to_string().contains("missing.toml"), "{err}");
}

/// A bad value in the file names its setting; a key that is no setting is refused by name.
#[test]
fn bad_file_keys_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for (file, named) in [("port = \"eighty\"\n", "PORT"), ("prot = 4000\n", "prot")] {
        std::fs::write(dir.path().join("service.toml"), file).unwrap();
        let err = load(&[], dir.path()).unwrap_err().to_string();
        assert!(err.contains(named), "{file}: {err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
}

#[test]
fn open_mode_is_refused_off_loopback_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    for host in ["127.0.0.1", "localhost", "::1", "127.0.0.2"] {
        let s = load(&[("HOST", host)], dir.path()).unwrap();
        assert!(s.admin_key.is_none(), "{host}: open mode");
    }
    for host in ["0.0.0.0", "10.1.2.3", "::", "api.example"] {
        let err = load(&[("HOST", host)], dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("ADMIN_KEY") && err.contains("ALLOW_OPEN") && !err.contains('\n'),
            "{host}: {err}"
        );
        assert!(load(&[("HOST", host), ("ALLOW_OPEN", "true")], dir.path()).is_ok());
        let key = "k".repeat(32);
        let s = load(&[("HOST", host), ("ADMIN_KEY", &key)], dir.path()).unwrap();
        assert_eq!(s.admin_key.unwrap().expose(), key);
    }
    let err = load(&[("ALLOW_OPEN", "perhaps")], dir.path()).unwrap_err();
    assert!(err.to_string().contains("ALLOW_OPEN"), "{err}");
}

#[test]
fn webhook_destinations_are_public_only_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let default = load(&[], dir.path()).unwrap();
    assert_eq!(default.webhook_destinations, Destinations::PublicOnly);
    let allowed = load(&[("WEBHOOK_ALLOW_PRIVATE", "true")], dir.path()).unwrap();
    assert_eq!(allowed.webhook_destinations, Destinations::AllowPrivate);
    let err = load(&[("WEBHOOK_ALLOW_PRIVATE", "yes please")], dir.path()).unwrap_err();
    assert!(err.to_string().contains("WEBHOOK_ALLOW_PRIVATE"), "{err}");
}

#[test]
fn webhook_disable_after_is_a_duration_of_five_days_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let default = load(&[], dir.path()).unwrap();
    assert_eq!(
        default.webhook_disable_after,
        std::time::Duration::from_secs(5 * 86_400)
    );
    let set = load(&[("WEBHOOK_DISABLE_AFTER", "90s")], dir.path()).unwrap();
    assert_eq!(
        set.webhook_disable_after,
        std::time::Duration::from_secs(90)
    );
    for bad in ["soon", "0s", "-1d"] {
        let err = load(&[("WEBHOOK_DISABLE_AFTER", bad)], dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("WEBHOOK_DISABLE_AFTER"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn the_admin_key_is_long_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let short = "hunter2-but-31-characters-long!";
    assert_eq!(short.len(), 31);
    let err = load(&[("ADMIN_KEY", short)], dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("ADMIN_KEY") && err.contains("32"), "{err}");
    assert!(!err.contains("hunter"), "{err}");
    let long = "hunter2-and-then-some-more-characters";
    let s = load(&[("ADMIN_KEY", long)], dir.path()).unwrap();
    assert!(!format!("{s:?}").contains("hunter"), "{s:?}");
    let values = Values::load_from([("ADMIN_KEY".into(), long.into())], dir.path());
    assert!(!format!("{values:?}").contains("hunter"));
}

#[test]
fn a_bad_mongo_uri_never_shows_its_password() {
    let dir = tempfile::tempdir().unwrap();
    for key in ["MONGO_URI", "DB_URI"] {
        for uri in [
            "mongodb://app:hunter2@db.example:port/",
            "mongodb://app:hunter2@/conversations",
            "mongodb://app:hunter2@db.example:27017,db2:x/",
            "mongodb://app:hunter2@[::1/",
            "mongodb://app:hunter2@db.example/?maxPoolSize=banana",
            "mongodb://app:hunter2@db.example/?authSource=",
            "mongodb://app:hunter%32@db.example:0x/",
            "mongodb://app:hunter2@db:27017@other/",
            "mongodb://app:hunter2:more@db/",
            "mongodb://app:hunter2/conversations",
            "mongodb://db:27017,app:hunter2/",
            "postgres://app:hunter2@db.example/",
            "app:hunter2@db.example",
            "mongodb+srv://app:hunter2@db.example:27017/",
        ] {
            let err = load(&[(key, uri)], dir.path())
                .map(|_| panic!("{uri} is refused"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{uri}: {err}");
            assert!(!err.contains("hunter"), "{uri} leaks: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
            let debug = format!(
                "{:?}",
                Values::load_from([(key.into(), uri.into())], dir.path())
            );
            assert!(!debug.contains("hunter"), "{debug}");
        }
    }
    let s = load(
        &[("MONGO_URI", "mongodb://app:hunter2@db.example/")],
        dir.path(),
    )
    .unwrap();
    assert!(!format!("{s:?}").contains("hunter"), "{s:?}");
}
