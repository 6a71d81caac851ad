//! The relay's errors, each with whose fault it is.

use factory_store::StoreError;
use factory_types::{Fault, HasFault, Seq};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The URL is not an AMQP URL (`amqp://USER:PASSWORD@HOST:PORT/VHOST`).
    #[error("`{url}` is not an AMQP URL ({reason}); expected amqp://USER:PASSWORD@HOST:PORT/VHOST")]
    BadUrl {
        /// Without its password.
        url: String,
        reason: String,
    },
    /// The broker cannot be reached, refused us, or the connection broke.
    #[error("the broker at {url}: {source}")]
    Broker {
        url: String,
        #[source]
        source: lapin::Error,
    },
    /// The broker refused to take a message (a nack).
    #[error("the broker at {url} refused event #{seq} (nack); it is published again")]
    Refused { url: String, seq: Seq },
    /// The broker did not confirm a message in time.
    #[error("the broker at {url} did not confirm event #{seq} within {seconds} s")]
    Unconfirmed { url: String, seq: Seq, seconds: u64 },
    /// The log or the cursor cannot be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl HasFault for BusError {
    fn fault(&self) -> Fault {
        match self {
            BusError::BadUrl { .. } => Fault::Input,
            BusError::Broker { .. } | BusError::Refused { .. } | BusError::Unconfirmed { .. } => {
                Fault::Environment
            }
            BusError::Store(error) => error.fault(),
        }
    }
}

/// `url` with its password replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("amqp://guest:s3cret@127.0.0.1:5672/%2F"),
            "amqp://guest:***@127.0.0.1:5672/%2F"
        );
        assert_eq!(
            redact("amqps://u:p@w:rd@host/vh?x=1"),
            "amqps://u:***@host/vh?x=1"
        );
        assert_eq!(redact("amqp://host:5672"), "amqp://host:5672");
        assert_eq!(redact("amqp://user@host"), "amqp://user@host");
        assert_eq!(redact("not a url"), "not a url");
    }
}
