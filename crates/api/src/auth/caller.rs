//! Who is calling: the caller's project and scopes, as a typed extractor.
//!
//! The authentication middleware (`auth`) turns the `Authorization` header into an
//! [`Authenticated`] caller in the request's extensions, or answers 401 itself. A handler takes
//! `Caller<need::Write>` (or `Read`, `Delete`): extracting it answers 403 `forbidden` when the
//! caller lacks the scope, so a handler holding a `Caller` has its project and its permission,
//! and every port call it makes names that project.

use std::future::{Ready, ready};
use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use domain::{ProjectId, Scope, Scopes};

use crate::http::problem::{ApiError, ErrorCode};

/// The caller as the authentication middleware established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub project: ProjectId,
    pub scopes: Scopes,
}

impl Authenticated {
    /// Open mode: everything in the project `default`, every scope.
    pub fn open() -> Self {
        Self {
            project: ProjectId::default_project(),
            scopes: Scopes::all(),
        }
    }
}

/// The scope an operation needs, as a type.
pub trait Need {
    const SCOPE: Scope;
}

/// The scope markers for [`Caller`].
pub mod need {
    use super::{Need, Scope};

    /// Every GET.
    pub struct Read;
    /// Create, append, batch, complete.
    pub struct Write;
    /// Erase, redact.
    pub struct Delete;

    impl Need for Read {
        const SCOPE: Scope = Scope::Read;
    }
    impl Need for Write {
        const SCOPE: Scope = Scope::Write;
    }
    impl Need for Delete {
        const SCOPE: Scope = Scope::Delete;
    }
}

/// An authenticated caller holding the scope `N`.
#[derive(Debug)]
pub struct Caller<N: Need> {
    project: ProjectId,
    need: PhantomData<N>,
}

impl<N: Need> Caller<N> {
    /// The project every port call of this request names.
    pub fn project(&self) -> &ProjectId {
        &self.project
    }
}

impl<N: Need> FromRequest for Caller<N> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = match req.extensions().get::<Authenticated>() {
            None => Err(ApiError::unauthorized("credentials are required")),
            Some(caller) if !caller.scopes.contains(N::SCOPE) => Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("this key does not have the {} scope", N::SCOPE),
            )),
            Some(caller) => Ok(Caller {
                project: caller.project.clone(),
                need: PhantomData,
            }),
        };
        ready(result)
    }
}
