//! The typed façade over a table actor's address.

use actix::{Addr, MailboxError};

use super::{
    TableActor,
    messages::{Execute, GetState, TableRequest},
};
use crate::{
    actors::CommandError,
    domain::{
        Agent, TableId,
        venue::{Party, Table},
    },
};

/// What a request led to.
#[derive(Clone, Debug)]
pub struct TableOutcome {
    /// This table after it.
    pub table: Table,
    /// The party it concerned, after it.
    pub party: Option<Party>,
    /// Other tables of the party's combination that changed with it (their actors reload).
    pub others: Vec<TableId>,
}

/// A cloneable handle to an active table. Obtain one from [`Venues`](crate::actors::Venues).
#[derive(Clone)]
pub struct TableHandle {
    pub(crate) addr: Addr<TableActor>,
}

impl TableHandle {
    pub async fn execute(
        &self,
        request: TableRequest,
        expected_version: Option<u64>,
        agent: Agent,
    ) -> Result<TableOutcome, CommandError> {
        self.addr
            .send(Execute {
                request,
                expected_version,
                agent,
            })
            .await
            .map_err(mailbox_error)?
    }

    /// The table as this node knows it.
    pub async fn state(&self) -> Result<Table, CommandError> {
        self.addr.send(GetState).await.map_err(mailbox_error)
    }
}

fn mailbox_error(e: MailboxError) -> CommandError {
    CommandError::Unavailable(format!(
        "table actor stopped ({e}); the command was not confirmed"
    ))
}
