//! A property's own stream, `property:<id>`: its creation and its policy settings, each one
//! event plus the row, in one transaction.

use crate::{
    domain::{Agent, Property, PropertyId},
    persistence::{self, NewEvent, Projection, Store},
};

use super::CommandError;

/// Creates a property, recording who did it.
pub async fn create_property(
    store: &Store,
    name: &str,
    timezone: &str,
    agent: &Agent,
) -> Result<Property, CommandError> {
    Property::validate(name, timezone).map_err(CommandError::Invalid)?;
    let property = Property {
        id: PropertyId::new(),
        name: name.trim().to_owned(),
        timezone: timezone.to_owned(),
        created_at: persistence::now(),
        business_date: None,
        require_inspected: false,
        stayover_every_days: 1,
    };
    create_with_id(store, property, agent).await
}

/// Creates a property with a given id (the demo hotel has a well-known one).
pub async fn create_with_id(
    store: &Store,
    property: Property,
    agent: &Agent,
) -> Result<Property, CommandError> {
    let event = NewEvent {
        stream: property.id.stream(),
        seq: 1,
        property_id: Some(property.id),
        kind: "property_created".into(),
        payload: serde_json::json!({ "name": property.name, "timezone": property.timezone }),
        actor: agent.clone(),
        at: property.created_at,
    };
    store
        .commit(
            vec![event],
            vec![Projection::InsertProperty(property.clone())],
        )
        .await
        .map_err(|e| match e {
            persistence::StoreError::Conflict | persistence::StoreError::Constraint(_) => {
                CommandError::Conflict {
                    code: "property_exists",
                    message: "a property with this id exists".into(),
                }
            }
            other => other.into(),
        })?;
    Ok(property)
}

/// Changes the check-in and housekeeping policy (what is given changes, the rest stays), as a
/// `settings_changed` event on the property's stream. A concurrent change of the stream (the
/// night audit rolling the business date) is a lost race: read again and retry.
pub async fn change_settings(
    store: &Store,
    current: &Property,
    require_inspected: Option<bool>,
    stayover_every_days: Option<u8>,
    agent: &Agent,
) -> Result<Property, CommandError> {
    let require_inspected = require_inspected.unwrap_or(current.require_inspected);
    let stayover_every_days = stayover_every_days.unwrap_or(current.stayover_every_days);
    if stayover_every_days > 30 {
        return Err(CommandError::Invalid(
            "stayover_every_days is 0 to 30".into(),
        ));
    }
    let stream = current.id.stream();
    let mut attempt = 0;
    loop {
        let row = NewEvent {
            seq: store.stream_version(&stream).await? + 1,
            stream: stream.clone(),
            property_id: Some(current.id),
            kind: "settings_changed".into(),
            payload: serde_json::json!({
                "require_inspected": require_inspected,
                "stayover_every_days": stayover_every_days,
            }),
            actor: agent.clone(),
            at: persistence::now(),
        };
        let projection = Projection::SetRequireInspected {
            property_id: current.id,
            require_inspected,
            stayover_every_days,
        };
        match store.commit(vec![row], vec![projection]).await {
            Ok(()) => break,
            Err(persistence::StoreError::Conflict) if attempt < 8 => {
                attempt += 1;
                tokio::time::sleep(super::backoff(attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    existing(store, current.id).await
}

/// The property, which must exist (a clear 404, not a foreign-key conflict or a `None`).
pub async fn existing(store: &Store, id: PropertyId) -> Result<Property, CommandError> {
    store
        .property(id)
        .await?
        .ok_or(CommandError::PropertyNotFound)
}
