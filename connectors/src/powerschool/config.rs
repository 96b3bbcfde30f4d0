//! The PowerSchool connector's config file.
//!
//! ```toml
//! tenant_id = "4800001"                       # the district: district_id of every row
//! base_url = "https://district.powerschool.com"
//! client_id = "2f0c…"                          # the plugin's OAuth client
//! client_secret_env = "POWERSCHOOL_SECRET"     # or client_secret = "…" (not both)
//! pagesize = 100                               # students per page (PowerSchool caps it)
//! mapping_version = 1
//!
//! [powerqueries]                               # the plugin's queries; leave one out to skip it
//! idea = "com.vigil.crdc.idea"
//! sec504 = "com.vigil.crdc.sec504"
//! el = "com.vigil.crdc.el"
//! incidents = "com.vigil.crdc.incidents"
//!
//! [http]
//! timeout = "30s"
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::config::{
    CommonConfig, CommonFields, ConfigError, HttpFile, Secret, load_file, toml_file,
};
use crate::oauth::client_common;

/// The named PowerQueries of the district's Vigil plugin; `None` skips one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerQueries {
    pub idea: Option<String>,
    pub sec504: Option<String>,
    pub el: Option<String>,
    pub incidents: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PowerSchoolConfig {
    /// `token` is the client secret.
    pub common: CommonConfig,
    pub client_id: String,
    /// Records per page of students, schools and PowerQueries.
    pub pagesize: u32,
    pub powerqueries: PowerQueries,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PowerSchoolFile {
    tenant_id: String,
    base_url: String,
    client_id: String,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    overlap: Option<String>,
    mapping_version: Option<i64>,
    pagesize: Option<u32>,
    #[serde(default)]
    powerqueries: PowerQueries,
    http: Option<HttpFile>,
}

impl PowerSchoolConfig {
    /// Reads and checks the config file at `path`, taking `client_secret_env` from
    /// the process environment.
    pub fn load(path: &Path) -> Result<PowerSchoolConfig, ConfigError> {
        load_file(path, |origin, text, env| {
            PowerSchoolConfig::parse(origin, text, env)
        })
    }

    /// Checks config `text`; `origin` names it in errors and `env` looks up
    /// `client_secret_env`.
    pub fn parse(
        origin: &str,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<PowerSchoolConfig, ConfigError> {
        let file: PowerSchoolFile = toml_file(origin, text)?;
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
        if file.client_id.trim().is_empty() {
            return Err(invalid("client_id", "must not be empty".into()));
        }
        let pagesize = file.pagesize.unwrap_or(100);
        if !(1..=1000).contains(&pagesize) {
            return Err(invalid(
                "pagesize",
                format!("{pagesize} is outside 1 to 1000"),
            ));
        }
        let queries = &file.powerqueries;
        for (field, name) in [
            ("powerqueries.idea", &queries.idea),
            ("powerqueries.sec504", &queries.sec504),
            ("powerqueries.el", &queries.el),
            ("powerqueries.incidents", &queries.incidents),
        ] {
            if let Some(name) = name
                && !query_name_like(name)
            {
                return Err(invalid(
                    field,
                    format!("{name:?} is not a powerquery name (letters, digits, '.', '_', '-')"),
                ));
            }
        }
        Ok(PowerSchoolConfig {
            common,
            client_id: file.client_id,
            pagesize,
            powerqueries: file.powerqueries,
        })
    }

    /// The client secret (the common `token`), which the config requires.
    pub fn client_secret(&self) -> Option<&Secret> {
        self.common.token.as_ref()
    }
}

/// A PowerQuery name goes into the URL path, so only its own characters pass.
fn query_name_like(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_parses_and_mistakes_name_their_field() {
        let text = "tenant_id = \"d1\"\nbase_url = \"http://127.0.0.1:9\"\nclient_id = \"c\"\n\
                    client_secret_env = \"PS\"\n[powerqueries]\nidea = \"com.x.idea\"\n";
        let config =
            PowerSchoolConfig::parse("t", text, |name| (name == "PS").then(|| "s".to_owned()))
                .expect("config");
        assert_eq!(config.client_secret().map(Secret::expose), Some("s"));
        assert_eq!(config.powerqueries.idea.as_deref(), Some("com.x.idea"));
        assert_eq!(config.pagesize, 100);
        assert!(!format!("{config:?}").contains("\"s\""), "the secret leaks");
        let error = PowerSchoolConfig::parse("t", text, |_| None).expect_err("no secret");
        assert_eq!(
            error.to_string(),
            "invalid connector config t: client_secret_env: environment variable PS is not set"
        );
        let no_secret = "tenant_id = \"d1\"\nbase_url = \"http://h\"\nclient_id = \"c\"\n";
        assert!(
            PowerSchoolConfig::parse("t", no_secret, |_| None)
                .expect_err("no secret")
                .to_string()
                .contains("client_secret")
        );
        let bad_query = text.replace("com.x.idea", "../x");
        assert!(
            PowerSchoolConfig::parse("t", &bad_query, |_| Some("s".into()))
                .expect_err("bad name")
                .to_string()
                .contains("powerqueries.idea")
        );
    }
}
