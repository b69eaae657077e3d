//! The route table: every path and method of the API, in one place.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};

use crate::handlers::operations::{method_not_allowed, not_found};
use crate::handlers::{admin, events, operations, sessions, webhooks};
use crate::state::AppState;
use crate::{auth, middleware, openapi};

/// The whole application: routes, Swagger UI, request-id/logging/problem middleware.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let resource = |path: &str, allow: &'static str| {
        web::resource(path).default_service(web::to(method_not_allowed(allow)))
    };
    let swagger_ui = openapi::swagger_ui(&state.limits, state.keys.open_mode());
    App::new()
        .app_data(state)
        // Registered first, so it runs inside `request_context`: a 401 gets its request id,
        // log line and problem body like every answer.
        .wrap(actix_web::middleware::from_fn(auth::authenticate))
        .wrap(actix_web::middleware::from_fn(middleware::request_context))
        .service(
            resource("/sessions", "GET, POST")
                .route(web::get().to(sessions::list_sessions))
                .route(web::post().to(sessions::create_session)),
        )
        .service(
            resource("/sessions/{sessionId}", "GET, DELETE")
                .route(web::get().to(sessions::get_session))
                .route(web::delete().to(sessions::erase_session)),
        )
        .service(
            resource("/sessions/{sessionId}/complete", "POST")
                .route(web::post().to(sessions::complete_session)),
        )
        .service(
            resource("/sessions/{sessionId}/events", "GET, POST")
                .route(web::get().to(events::list_events))
                .route(web::post().to(events::append_event)),
        )
        .service(
            resource("/sessions/{sessionId}/events:batch", "POST")
                .route(web::post().to(events::append_batch)),
        )
        .service(
            resource("/sessions/{sessionId}/events/{eventId}", "GET")
                .route(web::get().to(events::get_event)),
        )
        .service(
            resource("/sessions/{sessionId}/events/{eventId}/redact", "POST")
                .route(web::post().to(events::redact_event)),
        )
        .service(
            resource("/admin/keys", "GET, POST")
                .route(web::get().to(admin::list_keys))
                .route(web::post().to(admin::create_key)),
        )
        .service(
            resource("/admin/keys/{keyId}", "DELETE").route(web::delete().to(admin::revoke_key)),
        )
        .service(
            resource("/admin/webhooks", "GET, POST")
                .route(web::get().to(webhooks::list_webhooks))
                .route(web::post().to(webhooks::create_webhook)),
        )
        .service(
            resource("/admin/webhooks/{webhookId}", "GET, PATCH, DELETE")
                .route(web::get().to(webhooks::get_webhook))
                .route(web::patch().to(webhooks::patch_webhook))
                .route(web::delete().to(webhooks::delete_webhook)),
        )
        .service(
            resource("/admin/webhooks/{webhookId}/rotate-secret", "POST")
                .route(web::post().to(webhooks::rotate_webhook_secret)),
        )
        .service(
            resource("/admin/webhooks/{webhookId}/deliveries", "GET")
                .route(web::get().to(webhooks::list_deliveries)),
        )
        .service(
            resource(
                "/admin/webhooks/{webhookId}/deliveries/{messageId}/resend",
                "POST",
            )
            .route(web::post().to(webhooks::resend_delivery)),
        )
        .service(
            resource("/admin/webhooks/{webhookId}/replay", "POST")
                .route(web::post().to(webhooks::replay_webhook)),
        )
        .service(resource("/healthz", "GET").route(web::get().to(operations::healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(operations::readyz)))
        .service(resource("/metrics", "GET").route(web::get().to(operations::metrics)))
        .service(swagger_ui)
        .default_service(web::to(not_found))
}
