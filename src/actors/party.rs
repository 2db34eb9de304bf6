//! The party aggregate: what concerns only a restaurant party (arriving, paying, canceling, a
//! no-show, leaving the waitlist) on the generic [`EntityActor`](super::entity), with the retry
//! policy and metrics of every other kind.
//!
//! Whatever gives a party a table runs on the table's actor, which writes the party's events
//! in the table's transaction (see [`super::table`]); this actor then learns of them when the
//! store's version fences its next write (a lost race is judged again on the store's state).

use super::{
    entity::{Aggregate, Attempt, Ctx, Done, Handle, append},
    table::party_publication,
};
use crate::{
    domain::{
        ids::PartyId,
        venue::{Party, PartyCommand, PartyEvent},
    },
    events::Published,
    persistence::{self, Projection, Store, StoreError},
};

/// A cloneable handle to an active party.
pub type PartyHandle = Handle<Party>;

// `Streamed` for a party is beside the table's, which writes party streams too.

impl Aggregate for Party {
    type Key = PartyId;
    type Command = PartyCommand;
    type Output = Party;
    type Deps = ();
    const KIND: &'static str = "party";

    async fn load(&self, store: &Store) -> Result<Option<Self>, StoreError> {
        store.party(self.id).await
    }

    async fn attempt(&self, command: &PartyCommand, ctx: &Ctx<'_, Self>) -> Attempt<Self> {
        let events = self.decide(command)?;
        let at = persistence::now();
        let mut next = self.clone();
        let (rows, applied) = append(&mut next, events, ctx.agent, at)?;
        ctx.store
            .commit(rows, vec![Projection::UpsertParty(next.clone())])
            .await?;
        let events: Vec<(u64, PartyEvent)> =
            applied.into_iter().map(|(seq, e, _)| (seq, e)).collect();
        let publish = party_publication(&next, &events, ctx.agent, at);
        Ok(Done::state(next, vec![publish]))
    }

    fn key_of(msg: &Published) -> Option<PartyId> {
        msg.stream.strip_prefix("party:")?.parse().ok()
    }
}
