//! The shape shared by the errors that carry eddy's detail beyond the code ([`FetchError`],
//! [`ConnectError`]): the code as an [`Error`](crate::Error) plus an optional explanation.
//! One macro makes each, so the two cannot drift apart; each type keeps its own name (in
//! `Debug` too) and its own constructor.
//!
//! [`FetchError`]: crate::FetchError
//! [`ConnectError`]: crate::ConnectError

/// Defines `$name { error: Error, detail: Option<String> }` with the accessors, `Display`
/// ("<code's text>: <detail>"), `Debug` ("$name(EDDY_E..., \"detail\")"), `std::error::Error`
/// (the code as source), `From<$name> for Error`, and equality with an `Error` by code.
macro_rules! detailed_error {
    ($(#[$doc:meta])* $name:ident, $detail_doc:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name {
            error: crate::error::Error,
            detail: Option<String>,
        }

        impl $name {
            /// The code as an [`Error`](crate::Error) (`Error::TLS`, ...).
            pub fn error(&self) -> crate::error::Error {
                self.error
            }

            /// The negative `EDDY_E*` code.
            pub fn code(&self) -> std::os::raw::c_int {
                self.error.code()
            }

            /// The code's symbolic name, e.g. "EDDY_ETLS".
            pub fn name(&self) -> &'static str {
                self.error.name()
            }

            #[doc = $detail_doc]
            pub fn detail(&self) -> Option<&str> {
                self.detail.as_deref()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match &self.detail {
                    Some(detail) => write!(f, "{}: {}", self.error, detail),
                    None => write!(f, "{}", self.error),
                }
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match &self.detail {
                    Some(detail) => {
                        write!(f, "{}({}, {:?})", stringify!($name), self.error.name(), detail)
                    }
                    None => write!(f, "{}({})", stringify!($name), self.error.name()),
                }
            }
        }

        impl std::error::Error for $name {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.error)
            }
        }

        impl From<$name> for crate::error::Error {
            fn from(e: $name) -> crate::error::Error {
                e.error
            }
        }

        /// Compares the code only: the detail is an explanation, not a different error.
        impl PartialEq<crate::error::Error> for $name {
            fn eq(&self, other: &crate::error::Error) -> bool {
                self.error == *other
            }
        }

        impl PartialEq<$name> for crate::error::Error {
            fn eq(&self, other: &$name) -> bool {
                *self == other.error
            }
        }
    };
}

pub(crate) use detailed_error;
