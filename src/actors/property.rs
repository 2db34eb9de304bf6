//! Creating a property: one event on `property:<id>` plus the row, in one transaction.

use crate::{
    domain::{Agent, Property, PropertyId},
    persistence::{self, NewEvent, Projection, Store},
};

use super::CommandError;

/// Creates a property, recording who did it.
pub async fn create_property(
    store: &dyn Store,
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
    store: &dyn Store,
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
