//! Authentication: turns a request's credentials into the [`Authenticated`] caller that
//! handlers extract as a [`crate::caller::Caller`].

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::caller::Authenticated;

/// Open mode: every request is the project `default` with every scope.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    req.extensions_mut().insert(Authenticated::open());
    next.call(req).await
}
