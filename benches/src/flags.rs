//! The benchmark binaries' command lines: `--flag value` pairs, read in order.

use std::str::FromStr;

use anyhow::{Context, anyhow};

/// One `--flag value` pair.
#[derive(Debug, PartialEq, Eq)]
pub struct Flag {
    pub name: String,
    pub value: String,
}

impl Flag {
    /// The value as a `T`; an error names the flag and the value.
    pub fn parse<T>(&self) -> anyhow::Result<T>
    where
        T: FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        self.value.parse().with_context(|| self.invalid())
    }

    /// What to say of a value this flag cannot take.
    pub fn invalid(&self) -> String {
        format!("{}: cannot parse {:?}", self.name, self.value)
    }
}

/// The `--flag value` pairs of `args` (without the program name); a flag without
/// a value is an error.
pub fn pairs(args: impl IntoIterator<Item = String>) -> impl Iterator<Item = anyhow::Result<Flag>> {
    let mut args = args.into_iter();
    std::iter::from_fn(move || {
        let name = args.next()?;
        Some(match args.next() {
            Some(value) => Ok(Flag { name, value }),
            None => Err(anyhow!("{name} needs a value")),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn pairs_parse_and_say_what_is_wrong() {
        let mut flags = pairs(strings(&["--probes", "50", "--scale", "x", "--seed"]));
        let probes = flags.next().unwrap().unwrap();
        assert_eq!(probes.name, "--probes");
        assert_eq!(probes.parse::<usize>().unwrap(), 50);
        let scale = flags.next().unwrap().unwrap();
        let error = scale.parse::<f64>().unwrap_err().to_string();
        assert_eq!(error, "--scale: cannot parse \"x\"");
        let error = flags.next().unwrap().unwrap_err().to_string();
        assert_eq!(error, "--seed needs a value");
        assert!(flags.next().is_none());
    }
}
