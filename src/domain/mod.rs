//! Pure domain: the types and state machines of a hotel, with no I/O.
//!
//! Everything here is deterministic: commands are decided against a state and the current
//! time passed in by the caller, and produce events (or a refusal). The actors persist those
//! events and the projections derived from them; HTTP and WebSocket only translate. Keeping the
//! rules here is what lets every transition and every refusal be unit-tested beside the code.

pub mod access;
pub mod availability;
pub mod chat;
pub mod guest;
pub mod ids;
pub mod notice;
pub mod property;
pub mod reservation;
pub mod room;
pub mod stock;
pub mod task;
pub mod text;
pub mod venue;

pub use access::{Action, Denial, Principal, Role, role_allows};
pub use guest::{Guest, RoomType};
pub use ids::{
    Agent, ConversationId, GuestId, PartyId, PropertyId, ReservationId, RoomId, RoomNumber,
    TableId, TaskId, VenueId,
};
pub use property::Property;
pub use reservation::{Reservation, ReservationStatus, Stay};
pub use room::{
    Block, BlockKind, Cleanliness, Discrepancy, FoOccupancy, HkOccupancy, NewBlock, NewRoom, Room,
    RoomCommand, RoomEvent, RoomRefusal, ServiceFlag, StatusChange,
};
