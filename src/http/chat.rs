//! Guest chat over HTTP (DESIGN §5): the staff inbox, a conversation's history in pages,
//! sending (idempotent), read marks, status and assignment, and canned replies.
//!
//! A guest reaches their own stay's conversation (it has the reservation's id) with their
//! reservation-scoped token; staff with `chat` reach every conversation of their property.
//! Another conversation reads exactly like one that does not exist.

use std::collections::BTreeMap;

use super::body::Json;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::access::{Caller, Permit, to};
use super::{ApiError, Reply, State};
use crate::{
    actors::{CommandError, catalog},
    domain::{
        Action, ConversationId, Denial, Principal, PropertyId,
        chat::{
            Author, CannedReply, ChatCommand, Conversation, InboxStatus, MessageKind, Side, render,
        },
    },
    persistence,
    state::AppState,
    ws::snapshots,
};

/// Messages a history page holds at most.
const MAX_PAGE: usize = 200;

/// The conversation and the caller's side in it, or 404 / 403.
async fn authorized(
    state: &AppState,
    caller: &Caller,
    cid: ConversationId,
) -> Result<(Conversation, Side), ApiError> {
    let c = state.actors.conversations.state(cid).await?;
    match c.side_of(caller.principal()) {
        Ok(side) => Ok((c, side)),
        Err(Denial::NotFound) => Err(CommandError::ConversationNotFound.into()),
        Err(d) => Err(d.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    #[serde(default)]
    status: Option<InboxStatus>,
}

/// `GET /api/v1/properties/<pid>/conversations?status=`: the inbox, latest message first:
/// every conversation where something happened but the archived, or those in `status`.
pub async fn inbox(state: State, at: Permit<to::Chat>, query: web::Query<InboxQuery>) -> Reply {
    let pid = at.property;
    let status = query.into_inner().status;
    let mut all = state.store.conversations(pid, status).await?;
    all.sort_by(|a, b| {
        let at = |c: &Conversation| c.last_message.as_ref().map(|m| m.at);
        at(b).cmp(&at(a)).then(b.updated_at.cmp(&a.updated_at))
    });
    let views: Vec<_> = all.iter().map(Conversation::staff_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "conversations": views })))
}

/// `GET /api/v1/conversations/<cid>`: the conversation as the caller's side sees it.
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    cid: web::Path<ConversationId>,
) -> Result<HttpResponse, ApiError> {
    let (c, side) = authorized(&state, &caller, *cid).await?;
    Ok(HttpResponse::Ok().json(c.view(side)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[serde(default, deserialize_with = "crate::domain::ids::seq::de")]
    after: u64,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/v1/conversations/<cid>/messages?after=<seq>&limit=`: the messages after a seq,
/// oldest first, each with where it stands (`sent`, `delivered`, `read`). `next_after` is
/// the seq to ask from next; `has_more` says whether there is more.
pub async fn messages(
    state: web::Data<AppState>,
    caller: Caller,
    cid: web::Path<ConversationId>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (_, side) = authorized(&state, &caller, *cid).await?;
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let (c, events, more) = snapshots::chat_events(state.store.as_ref(), *cid, q.after, limit)
        .await?
        .ok_or(CommandError::ConversationNotFound)?;
    let next_after = events.last().map_or(q.after, |e| e.seq);
    Ok(HttpResponse::Ok().json(json!({
        "conversation": c.view(side),
        "messages": snapshots::chat_messages(&events, &c, side),
        "next_after": next_after,
        "has_more": more,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    /// The text; or leave it out and name a canned reply (staff).
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    canned: Option<Uuid>,
    /// `text` (default) or `note` (staff only, never shown to the guest).
    #[serde(default)]
    kind: Option<MessageKind>,
    /// Idempotency key (or the `Idempotency-Key` header).
    #[serde(default)]
    key: Option<String>,
}

/// `POST /api/v1/conversations/<cid>/messages`: 201 with the stored seq; a retry with the same
/// idempotency key answers 200 with the seq stored the first time.
pub async fn send(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    cid: web::Path<ConversationId>,
    body: Json<SendBody>,
) -> Result<HttpResponse, ApiError> {
    let (c, side) = authorized(&state, &caller, *cid).await?;
    let b = body.into_inner();
    let author = match (caller.principal(), side) {
        (_, Side::Guest) => Author::Guest,
        (Principal::Staff { user_id, .. }, Side::Staff) => Author::Staff { user_id: *user_id },
        _ => return Err(Denial::Forbidden.into()),
    };
    let text = match (b.body, b.canned) {
        (Some(text), None) => text,
        (None, Some(reply)) if side == Side::Staff => canned_text(&state, &c, reply).await?,
        _ => {
            return Err(ApiError::BadRequest {
                code: "invalid_body",
                message: "send a body, or (staff) the id of a canned reply".into(),
            });
        }
    };
    let header = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let key = b.key.or(header);
    if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 200) {
        return Err(ApiError::bad_request(
            "an idempotency key has 1 to 200 characters",
        ));
    }
    let outcome = state
        .actors
        .conversations
        .send(
            *cid,
            author,
            b.kind.unwrap_or(MessageKind::Text),
            text,
            key.as_deref(),
            caller.agent(),
        )
        .await?;
    let reply = json!({
        "seq": outcome.seq,
        "duplicate": outcome.duplicate,
        "conversation": outcome.conversation.view(side),
    });
    Ok(if outcome.duplicate {
        HttpResponse::Ok().json(reply)
    } else {
        HttpResponse::Created().json(reply)
    })
}

/// A canned reply of the conversation's property, filled in for this stay.
async fn canned_text(state: &AppState, c: &Conversation, reply: Uuid) -> Result<String, ApiError> {
    let replies = state.store.canned_replies(c.property_id).await?;
    let reply = replies
        .into_iter()
        .find(|r| r.id == reply)
        .ok_or(ApiError::NotFound {
            code: "canned_reply_not_found",
            message: "no such canned reply in this property".into(),
        })?;
    let reservation = state
        .store
        .reservation(c.reservation_id)
        .await?
        .ok_or(CommandError::ReservationNotFound)?;
    let vars = BTreeMap::from([
        ("guest_name", c.guest_name.clone()),
        (
            "room",
            reservation
                .room
                .map(|r| r.number.to_string())
                .unwrap_or_default(),
        ),
        (
            "checkout_time",
            // A stay ends at noon of the departure day (see `Property::night`).
            format!(
                "12:00 on {}",
                reservation.stay.departure.format("%A %-d %B")
            ),
        ),
    ]);
    Ok(render(&reply.body, &vars).map_err(CommandError::from)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    #[serde(deserialize_with = "crate::domain::ids::seq::de")]
    seq: u64,
}

/// `POST /api/v1/conversations/<cid>/read`: the caller's side has read up to `seq`.
pub async fn read(
    state: web::Data<AppState>,
    caller: Caller,
    cid: web::Path<ConversationId>,
    body: Json<ReadBody>,
) -> Result<HttpResponse, ApiError> {
    let (c, side) = authorized(&state, &caller, *cid).await?;
    let marked = state
        .actors
        .conversations
        .mark(*cid, side, body.seq, true, caller.agent())
        .await?;
    let c = marked.map_or(c, |o| o.conversation);
    Ok(HttpResponse::Ok().json(c.view(side)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    status: InboxStatus,
    #[serde(default)]
    follow_up: Option<NaiveDate>,
}

/// `POST /api/v1/conversations/<cid>/status`: staff set todo, waiting, follow_up (with a
/// date), done or archived.
pub async fn set_status(
    state: web::Data<AppState>,
    caller: Caller,
    cid: web::Path<ConversationId>,
    body: Json<StatusBody>,
) -> Result<HttpResponse, ApiError> {
    staff_only(&state, &caller, *cid).await?;
    let b = body.into_inner();
    let o = state
        .actors
        .conversations
        .execute(
            *cid,
            ChatCommand::SetStatus {
                status: b.status,
                follow_up: b.follow_up,
            },
            caller.agent(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(o.conversation.staff_view()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// A staff member of the property who may chat, or `null` to unassign.
    user_id: Option<Uuid>,
}

/// `POST /api/v1/conversations/<cid>/assign`: who handles the conversation.
pub async fn assign(
    state: web::Data<AppState>,
    caller: Caller,
    cid: web::Path<ConversationId>,
    body: Json<AssignBody>,
) -> Result<HttpResponse, ApiError> {
    let c = staff_only(&state, &caller, *cid).await?;
    let to = body.user_id;
    if let Some(user) = to {
        let ok = state.store.user(user).await?.is_some_and(|u| {
            u.property_id == Some(c.property_id) && crate::domain::role_allows(u.role, Action::Chat)
        });
        if !ok {
            return Err(ApiError::Unprocessable {
                code: "validation_failed",
                message: "the assignee must be a staff member of this property who chats".into(),
            });
        }
    }
    let o = state
        .actors
        .conversations
        .execute(*cid, ChatCommand::Assign { to }, caller.agent())
        .await?;
    Ok(HttpResponse::Ok().json(o.conversation.staff_view()))
}

async fn staff_only(
    state: &AppState,
    caller: &Caller,
    cid: ConversationId,
) -> Result<Conversation, ApiError> {
    match authorized(state, caller, cid).await? {
        (c, Side::Staff) => Ok(c),
        (_, Side::Guest) => Err(Denial::Forbidden.into()),
    }
}

/// `GET /api/v1/properties/<pid>/canned-replies`: by title (staff who chat).
pub async fn canned_list(state: State, at: Permit<to::Chat>) -> Reply {
    let pid = at.property;
    let replies = state.store.canned_replies(pid).await?;
    Ok(HttpResponse::Ok().json(json!({ "canned_replies": replies })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedBody {
    title: String,
    body: String,
}

/// `POST /api/v1/properties/<pid>/canned-replies`: 201. A title taken answers 409.
pub async fn canned_create(
    state: State,
    at: Permit<to::CannedReplyManage>,
    body: Json<CannedBody>,
) -> Reply {
    let pid = at.property;
    let b = body.into_inner();
    let reply = CannedReply {
        id: Uuid::new_v4(),
        property_id: pid,
        title: b.title.trim().to_owned(),
        body: b.body,
        updated_at: persistence::now(),
    };
    catalog::put_canned_reply(state.store.as_ref(), &reply).await?;
    Ok(HttpResponse::Created().json(reply))
}

/// `POST /api/v1/properties/<pid>/canned-replies/<id>`: replaces title and body.
pub async fn canned_update(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, Uuid)>,
    body: Json<CannedBody>,
) -> Result<HttpResponse, ApiError> {
    let (pid, id) = path.into_inner();
    caller.may(Action::CannedReplyManage, pid)?;
    canned_exists(&state, pid, id).await?;
    let b = body.into_inner();
    let reply = CannedReply {
        id,
        property_id: pid,
        title: b.title.trim().to_owned(),
        body: b.body,
        updated_at: persistence::now(),
    };
    catalog::put_canned_reply(state.store.as_ref(), &reply).await?;
    Ok(HttpResponse::Ok().json(reply))
}

/// `DELETE /api/v1/properties/<pid>/canned-replies/<id>`: 204.
pub async fn canned_delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(PropertyId, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (pid, id) = path.into_inner();
    caller.may(Action::CannedReplyManage, pid)?;
    canned_exists(&state, pid, id).await?;
    catalog::delete_canned_reply(state.store.as_ref(), pid, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// 404 unless the property has the canned reply `id`.
async fn canned_exists(state: &AppState, pid: PropertyId, id: Uuid) -> Result<(), ApiError> {
    let replies = state.store.canned_replies(pid).await?;
    if replies.iter().any(|r| r.id == id) {
        Ok(())
    } else {
        Err(canned_not_found())
    }
}

fn canned_not_found() -> ApiError {
    ApiError::NotFound {
        code: "canned_reply_not_found",
        message: "no such canned reply in this property".into(),
    }
}
