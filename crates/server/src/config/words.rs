//! Settings written as a word (or a number): `LOG_FORMAT`, `SQLITE_SYNCHRONOUS`,
//! `MONGO_WRITE_CONCERN`; their types, the words each accepts, and how serde reads them.

use infra_sqlite::Synchronous;

/// How many MongoDB nodes must acknowledge a write before it is acknowledged to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteConcern {
    Majority,
    Nodes(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A setting written as a word (or a number), e.g. `LOG_FORMAT=json`, `MONGO_WRITE_CONCERN=2`.
pub(super) trait Word: Sized + Copy + PartialEq + 'static {
    /// Each word and its value; words are matched without regard to case.
    const WORDS: &'static [(&'static str, Self)];

    /// What is accepted, for the error message.
    fn expected() -> String {
        Self::WORDS
            .iter()
            .map(|(word, _)| *word)
            .collect::<Vec<_>>()
            .join(" or ")
    }

    fn parse(word: &str) -> Option<Self> {
        Self::WORDS
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(word))
            .map(|(_, value)| *value)
    }

    fn word(&self) -> String {
        Self::WORDS
            .iter()
            .find(|(_, value)| value == self)
            .map(|(word, _)| (*word).to_owned())
            .unwrap_or_default()
    }
}

impl Word for LogFormat {
    const WORDS: &'static [(&'static str, Self)] =
        &[("pretty", Self::Pretty), ("json", Self::Json)];
}

impl Word for Synchronous {
    const WORDS: &'static [(&'static str, Self)] =
        &[("full", Self::Full), ("normal", Self::Normal)];
}

impl Word for WriteConcern {
    const WORDS: &'static [(&'static str, Self)] = &[("majority", Self::Majority)];

    fn expected() -> String {
        "majority or a number of nodes from 1 to 50".into()
    }

    fn parse(word: &str) -> Option<Self> {
        match word.parse() {
            Ok(n) if (1..=50).contains(&n) => Some(Self::Nodes(n)),
            Ok(_) => None,
            Err(_) => (word.eq_ignore_ascii_case("majority")).then_some(Self::Majority),
        }
    }

    fn word(&self) -> String {
        match self {
            Self::Majority => "majority".into(),
            Self::Nodes(n) => n.to_string(),
        }
    }
}

/// Serde for [`Word`] settings: a string (or a TOML number) in, the word out.
pub(super) mod text {
    use std::fmt;

    use serde::de::{self, Deserializer, Visitor};
    use serde::ser::Serializer;

    use super::Word;

    pub fn serialize<T: Word, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.word())
    }

    pub fn deserialize<'de, T: Word, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        struct Text<T>(std::marker::PhantomData<T>);

        impl<T: Word> Visitor<'_> for Text<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(&T::expected())
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
                T::parse(v.trim())
                    .ok_or_else(|| E::custom(format!("must be {}, not {v:?}", T::expected())))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
                self.visit_str(&v.to_string())
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
                self.visit_str(&v.to_string())
            }
        }

        deserializer.deserialize_any(Text(std::marker::PhantomData))
    }
}
