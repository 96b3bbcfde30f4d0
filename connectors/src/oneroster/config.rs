//! The OneRoster (Infinite Campus) connector's config file.
//!
//! ```toml
//! tenant_id = "4800002"                        # the district: district_id of every row
//! base_url = "https://campus.district.org"     # the Campus server; the paths below are fixed
//! app_name = "district"                        # the Campus app name of the token URL
//! client_id = "…"
//! client_secret_env = "CAMPUS_SECRET"          # or client_secret = "…" (not both)
//! limit = 100                                  # records per page
//! overlap = "5m"                               # refetch margin before the cursor
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::config::{
    CommonConfig, CommonFields, ConfigError, HttpFile, Secret, load_file, toml_file,
};
use crate::oauth::client_common;

#[derive(Clone, Debug)]
pub struct OneRosterConfig {
    /// `token` is the client secret.
    pub common: CommonConfig,
    pub app_name: String,
    pub client_id: String,
    /// Records per page (`limit`).
    pub limit: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OneRosterFile {
    tenant_id: String,
    base_url: String,
    app_name: String,
    client_id: String,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    overlap: Option<String>,
    mapping_version: Option<i64>,
    limit: Option<u32>,
    http: Option<HttpFile>,
}

impl OneRosterConfig {
    /// Reads and checks the config file at `path`, taking `client_secret_env` from
    /// the process environment.
    pub fn load(path: &Path) -> Result<OneRosterConfig, ConfigError> {
        load_file(path, |origin, text, env| {
            OneRosterConfig::parse(origin, text, env)
        })
    }

    /// Checks config `text`; `origin` names it in errors and `env` looks up
    /// `client_secret_env`.
    pub fn parse(
        origin: &str,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<OneRosterConfig, ConfigError> {
        let file: OneRosterFile = toml_file(origin, text)?;
        let invalid = |field, reason: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            field,
            reason,
        };
        let common = client_common(
            origin,
            CommonFields {
                tenant_id: file.tenant_id,
                base_url: file.base_url,
                token: file.client_secret,
                token_env: file.client_secret_env,
                overlap: file.overlap,
                mapping_version: file.mapping_version,
                http: file.http.unwrap_or_default(),
            },
            env,
        )?;
        let app_like = !file.app_name.is_empty()
            && file
                .app_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !app_like {
            return Err(invalid(
                "app_name",
                format!("{:?} is not a campus app name", file.app_name),
            ));
        }
        if file.client_id.trim().is_empty() {
            return Err(invalid("client_id", "must not be empty".into()));
        }
        let limit = file.limit.unwrap_or(100);
        if !(1..=10_000).contains(&limit) {
            return Err(invalid("limit", format!("{limit} is outside 1 to 10000")));
        }
        Ok(OneRosterConfig {
            common,
            app_name: file.app_name,
            client_id: file.client_id,
            limit,
        })
    }

    /// The client secret (the common `token`), which the config requires.
    pub fn client_secret(&self) -> Option<&Secret> {
        self.common.token.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_parses_and_mistakes_name_their_field() {
        let text = "tenant_id = \"d2\"\nbase_url = \"http://127.0.0.1:9\"\napp_name = \"demo\"\n\
                    client_id = \"c\"\nclient_secret = \"s\"\nlimit = 4\n";
        let config = OneRosterConfig::parse("t", text, |_| None).expect("config");
        assert_eq!((config.app_name.as_str(), config.limit), ("demo", 4));
        assert_eq!(config.client_secret().map(Secret::expose), Some("s"));
        let both = format!("{text}client_secret_env = \"X\"\n");
        assert_eq!(
            OneRosterConfig::parse("t", &both, |_| None)
                .expect_err("both")
                .to_string(),
            "invalid connector config t: client_secret: set client_secret or client_secret_env, not both"
        );
        let bad_app = text.replace("\"demo\"", "\"a b\"");
        assert!(
            OneRosterConfig::parse("t", &bad_app, |_| None)
                .expect_err("app")
                .to_string()
                .contains("app_name")
        );
    }
}
