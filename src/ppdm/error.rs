//! Errors of talking to PPDM, and the fixed set of reasons they are counted under.

use std::error::Error as _;

use reqwest::StatusCode;

/// Why a login was refused; none of these heal by retrying quickly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthRefusal {
    /// 401 on login: wrong user name or password.
    BadCredentials,
    /// 423: the account is locked.
    AccountLocked,
    /// 302: the password has expired and must be changed in PPDM.
    PasswordExpired,
    /// 307: PPDM asks for a second factor, which the exporter cannot give.
    MfaRequired,
    /// 403: the user's role may not call this resource.
    Forbidden,
}

impl AuthRefusal {
    /// Maps a login status to a refusal, when it is one.
    pub fn from_login_status(status: StatusCode) -> Option<AuthRefusal> {
        match status.as_u16() {
            401 => Some(Self::BadCredentials),
            423 => Some(Self::AccountLocked),
            302 => Some(Self::PasswordExpired),
            307 => Some(Self::MfaRequired),
            403 => Some(Self::Forbidden),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::BadCredentials => "wrong user name or password (401)",
            Self::AccountLocked => "account locked (423)",
            Self::PasswordExpired => "password expired, change it in PPDM (302)",
            Self::MfaRequired => "multi-factor authentication required (307)",
            Self::Forbidden => "role not allowed to read storage systems (403)",
        }
    }
}

/// A failed exchange with PPDM.
#[derive(Debug, thiserror::Error)]
pub enum PpdmError {
    /// PPDM refused to authenticate or authorise the exporter.
    #[error("PPDM refused the login: {}", .0.describe())]
    Auth(AuthRefusal),
    /// PPDM refused the password read from `password_file`, which may have been
    /// rotated in PPDM but not in the file (or the other way round).
    #[error("PPDM refused the password read from {path} (401); if it was rotated, update the file")]
    PasswordFileRefused {
        /// The file the password came from.
        path: String,
    },
    /// The password could not be read from its file or variable.
    #[error("cannot read the password: {0}")]
    Password(String),
    /// No TCP connection could be made.
    #[error("cannot connect to PPDM")]
    Connect(#[source] reqwest::Error),
    /// PPDM did not answer in time.
    #[error("PPDM did not answer within the timeout")]
    Timeout(#[source] reqwest::Error),
    /// The whole poll, paging and retries included, took longer than the interval.
    #[error("the poll did not finish within the {} interval", humantime::format_duration(*.0))]
    PollTimeout(std::time::Duration),
    /// The TLS handshake failed, usually an untrusted certificate.
    #[error("TLS handshake with PPDM failed (is ca_file right?)")]
    Tls(#[source] reqwest::Error),
    /// The transfer broke off after it started.
    #[error("connection to PPDM broke during the answer")]
    Transfer(#[source] reqwest::Error),
    /// PPDM answered with an unexpected status.
    #[error("PPDM answered {status} to {path}")]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The API path called.
        path: String,
    },
    /// The answer was larger than `max_response_bytes`.
    #[error("answer to {path} is larger than the {limit}-byte limit")]
    TooLarge {
        /// The API path called.
        path: String,
        /// The configured limit.
        limit: u64,
    },
    /// The answer was not the JSON expected.
    #[error("cannot decode the answer to {path}")]
    Decode {
        /// The API path called.
        path: String,
        /// What the decoder reported.
        #[source]
        source: serde_json::Error,
    },
    /// `totalPages` changed between two pages of one poll: the list changed while it
    /// was read, so the pages may miss or repeat systems.
    #[error("PPDM's page count changed from {first} to {now} during the poll")]
    PagingChanged {
        /// `totalPages` of the first page.
        first: u64,
        /// `totalPages` of a later page.
        now: u64,
    },
    /// Paging did not end within the page cap.
    #[error("paging did not end after {0} pages")]
    TooManyPages(u32),
}

/// The `reason` label of `ppdm_poll_failures_total`: a small fixed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// Login refused or token not accepted.
    Auth,
    /// No connection, or the connection broke.
    Connect,
    /// No answer in time.
    Timeout,
    /// Certificate or handshake problem.
    Tls,
    /// An unexpected HTTP status.
    HttpStatus,
    /// An answer that is not what PPDM should send.
    Decode,
}

impl FailureReason {
    /// Every reason, for initialising counters at zero.
    pub const ALL: [FailureReason; 6] = [
        Self::Auth,
        Self::Connect,
        Self::Timeout,
        Self::Tls,
        Self::HttpStatus,
        Self::Decode,
    ];

    /// The label value.
    pub fn as_label(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Tls => "tls",
            Self::HttpStatus => "http_status",
            Self::Decode => "decode",
        }
    }
}

impl PpdmError {
    /// Whether PPDM refused to log in or the password is missing: retrying soon will
    /// not help and may lock the account.
    pub fn is_login_refusal(&self) -> bool {
        matches!(
            self,
            Self::Auth(_) | Self::Password(_) | Self::PasswordFileRefused { .. }
        )
    }

    /// Whether PPDM received the request and answered it (badly); false for failures
    /// to connect or to finish, and for requests never sent.
    pub fn reached_ppdm(&self) -> bool {
        !matches!(
            self,
            Self::Connect(_)
                | Self::Timeout(_)
                | Self::Tls(_)
                | Self::Transfer(_)
                | Self::PollTimeout(_)
                | Self::Password(_)
        )
    }

    /// Classifies a transport error from reqwest.
    pub fn from_transport(error: reqwest::Error) -> PpdmError {
        if error.is_timeout() {
            Self::Timeout(error)
        } else if is_tls(&error) {
            Self::Tls(error)
        } else if error.is_connect() {
            Self::Connect(error)
        } else {
            Self::Transfer(error)
        }
    }

    /// The counter label for this failure.
    pub fn reason(&self) -> FailureReason {
        match self {
            Self::Auth(_) | Self::Password(_) | Self::PasswordFileRefused { .. } => {
                FailureReason::Auth
            }
            Self::Status { status, .. }
                if *status == StatusCode::UNAUTHORIZED || *status == StatusCode::FORBIDDEN =>
            {
                FailureReason::Auth
            }
            Self::Connect(_) | Self::Transfer(_) => FailureReason::Connect,
            Self::Timeout(_) | Self::PollTimeout(_) => FailureReason::Timeout,
            Self::Tls(_) => FailureReason::Tls,
            Self::Status { .. } => FailureReason::HttpStatus,
            Self::TooLarge { .. }
            | Self::Decode { .. }
            | Self::TooManyPages(_)
            | Self::PagingChanged { .. } => FailureReason::Decode,
        }
    }

    /// Whether retrying soon may help: network trouble, 5xx and 429.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect(_) | Self::Timeout(_) | Self::Transfer(_) => true,
            Self::PagingChanged { .. } => true,
            Self::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }

    /// The full cause chain on one line, for logs.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = self.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

/// Whether a rustls error sits anywhere in the cause chain.
fn is_tls(error: &reqwest::Error) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_401_on_data_counts_as_auth_and_5xx_as_transient_status() {
        let unauthorized = PpdmError::Status {
            status: StatusCode::UNAUTHORIZED,
            path: "/api/v2/storage-systems".into(),
        };
        let unavailable = PpdmError::Status {
            status: StatusCode::SERVICE_UNAVAILABLE,
            path: "/api/v2/storage-systems".into(),
        };

        assert_eq!(unauthorized.reason(), FailureReason::Auth);
        assert!(!unauthorized.is_transient());
        assert_eq!(unavailable.reason(), FailureReason::HttpStatus);
        assert!(unavailable.is_transient());
    }

    #[test]
    fn login_refusals_explain_themselves() {
        let locked = PpdmError::Auth(AuthRefusal::AccountLocked);

        assert_eq!(
            locked.to_string(),
            "PPDM refused the login: account locked (423)"
        );
        assert_eq!(
            AuthRefusal::from_login_status(StatusCode::FOUND),
            Some(AuthRefusal::PasswordExpired)
        );
        assert_eq!(
            AuthRefusal::from_login_status(StatusCode::BAD_GATEWAY),
            None
        );
    }
}
