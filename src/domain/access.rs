//! Who may do what, where: roles, actions, the permission matrix, and the principal check.
//!
//! This file is the single source of the permission matrix (the README shows it as a table).
//! Every HTTP route and every WebSocket subscription names the [`Action`] it performs and the
//! property it touches, and asks [`Principal::authorize`]. The answer is deny-by-default:
//!
//! - a different property than the caller's → [`Denial::NotFound`] (never reveal that another
//!   hotel's rooms exist);
//! - the caller's property, but the role lacks the action → [`Denial::Forbidden`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ids::{Agent, PropertyId};

/// A staff role. Admins belong to the deployment (every property); everyone else to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    FrontDesk,
    Housekeeper,
    Maintenance,
    Restaurant,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Manager,
        Role::FrontDesk,
        Role::Housekeeper,
        Role::Maintenance,
        Role::Restaurant,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Manager => "manager",
            Self::FrontDesk => "front_desk",
            Self::Housekeeper => "housekeeper",
            Self::Maintenance => "maintenance",
            Self::Restaurant => "restaurant",
        }
    }
}

/// Declares [`Action`], [`Action::ALL`] and the action types of [`to`] from one list, so
/// an action added to the matrix is at once a value, in `ALL`, and a type a route can name.
macro_rules! actions {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// Everything the API lets someone do. Each route and topic maps to exactly one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Action {
            $($(#[doc = $doc])* $name,)*
        }

        impl Action {
            pub const ALL: [Action; [$(stringify!($name)),*].len()] = [$(Action::$name,)*];
        }

        /// The actions as types: `Permit<to::RoomRead>` (see `http::access`) reads "permitted
        /// to read rooms", and extracting it is the check.
        pub mod to {
            $(
                $(#[doc = $doc])*
                pub struct $name;
                impl super::Act for $name {
                    const ACTION: super::Action = super::Action::$name;
                }
            )*
        }
    };
}

/// An action named as a type, so a route states what it does in its signature.
pub trait Act {
    const ACTION: Action;
}

actions!(
    /// Create a property (a new hotel in the deployment).
    PropertyCreate,
    /// Read a property's details.
    PropertyRead,
    /// Read the room board and single rooms, over HTTP or WebSocket.
    RoomRead,
    /// Add rooms to a property.
    RoomCreate,
    /// Change housekeeping status facets (cleanliness, occupancy report, service, rush).
    RoomStatus,
    /// Place and release maintenance blocks.
    RoomBlock,
    /// Create and list the property's staff.
    UserManage,
    /// Create, list and revoke API keys.
    ApiKeyManage,
    /// Read the audit trail.
    AuditRead,
    /// Create, find and read guest profiles.
    GuestManage,
    /// Define the room types a property sells.
    RoomTypeManage,
    /// Read reservations (lists, single ones, their live topics) and availability changes.
    ReservationRead,
    /// Book, change, assign, check in and out, cancel reservations.
    ReservationManage,
    /// Sell a sold-out room type anyway (recorded as an overbooking).
    ReservationOverbook,
    /// Run the night audit now (close the business date).
    NightAudit,
    /// Change property settings (check-in only into inspected rooms).
    PropertySettings,
    /// The supervisor side of housekeeping: the board (`tasks:<pid>`), creating, assigning,
    /// prioritizing, canceling and reopening tasks.
    TaskManage,
    /// Working one's own tasks: the queue (`tasks:user:<own id>`), start, hold, resume,
    /// complete, fail an inspection, add notes. Managers may do it on anyone's task.
    TaskWork,
    /// The staff side of guest chat: the inbox (`inbox:<pid>`), any conversation of the
    /// property (`chat:<cid>`), replies, internal notes, status and assignment.
    Chat,
    /// Create, change and delete the property's canned replies.
    CannedReplyManage,
    /// Open venues, lay out their floor plans (tables, sections, combinations), set turn
    /// times, pacing and holds.
    VenueManage,
    /// Run a host stand: the floor plan (`tables:<venue_id>`), bookings, walk-ins, the
    /// waitlist, seat / clear / bus / block tables, party actions.
    TableService,
);

impl Action {
    /// What an API key may be granted: integrations work on rooms, never on people or keys.
    #[must_use]
    pub fn grantable_to_api_keys(self) -> bool {
        matches!(
            self,
            Self::PropertyRead
                | Self::RoomRead
                | Self::RoomCreate
                | Self::RoomStatus
                | Self::RoomBlock
        )
    }
}

/// THE permission matrix: whether `role` may perform `action` (in its own property; admins
/// in every property).
#[must_use]
pub fn role_allows(role: Role, action: Action) -> bool {
    use Action::*;
    use Role::*;
    match (role, action) {
        (Admin, _) => true,
        (_, PropertyCreate) => false,
        (_, PropertyRead) => true,
        (Manager, _) => true,
        (
            FrontDesk,
            RoomRead | RoomStatus | RoomBlock | GuestManage | ReservationRead | ReservationManage
            | NightAudit | TaskManage | Chat | TableService,
        ) => true,
        (Housekeeper, RoomRead | RoomStatus | TaskWork) => true,
        (Maintenance, RoomRead | RoomBlock | TaskWork) => true,
        // Restaurant staff run the tables, not the room board.
        (Restaurant, TableService) => true,
        _ => false,
    }
}

/// Why a request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The target belongs to a property the caller cannot see (answered as 404).
    NotFound,
    /// The caller sees the property but may not do this (403).
    Forbidden,
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A staff member. `property` is `None` only for admins.
    Staff {
        user_id: Uuid,
        property: Option<PropertyId>,
        role: Role,
    },
    /// An integration's API key: one property, a set of granted actions.
    ApiKey {
        key_id: Uuid,
        property: PropertyId,
        permissions: Vec<Action>,
    },
    /// A guest, scoped to their own reservation (issued by the reservation flow).
    Guest {
        reservation_id: Uuid,
        property: PropertyId,
    },
}

impl Principal {
    /// Deny-by-default check of `action` on something belonging to `property`.
    pub fn authorize(&self, action: Action, property: PropertyId) -> Result<(), Denial> {
        let (home, allowed) = match self {
            Self::Staff {
                role: Role::Admin, ..
            } => return Ok(()),
            Self::Staff { property, role, .. } => (*property, role_allows(*role, action)),
            Self::ApiKey {
                property,
                permissions,
                ..
            } => (Some(*property), permissions.contains(&action)),
            // No room action is a guest's; their own stay arrives with reservations.
            Self::Guest { property, .. } => (Some(*property), false),
        };
        if home != Some(property) {
            return Err(Denial::NotFound);
        }
        if allowed {
            Ok(())
        } else {
            Err(Denial::Forbidden)
        }
    }

    /// Actions that are not about one property (creating one).
    pub fn authorize_global(&self, action: Action) -> Result<(), Denial> {
        match self {
            // The matrix alone decides (today only admins create properties); keys and guests
            // are bound to one property and never act beyond it.
            Self::Staff { role, .. } if role_allows(*role, action) => Ok(()),
            _ => Err(Denial::Forbidden),
        }
    }

    /// The property the caller belongs to (`None`: an admin, who belongs to all).
    #[must_use]
    pub fn home(&self) -> Option<PropertyId> {
        match self {
            Self::Staff { property, .. } => *property,
            Self::ApiKey { property, .. } | Self::Guest { property, .. } => Some(*property),
        }
    }

    /// Whether this caller may see `property` at all.
    #[must_use]
    pub fn sees(&self, property: PropertyId) -> bool {
        self.authorize(Action::PropertyRead, property) != Err(Denial::NotFound)
    }

    /// Who this is in the event log.
    #[must_use]
    pub fn agent(&self) -> Agent {
        match self {
            Self::Staff { user_id, .. } => Agent::user(*user_id),
            Self::ApiKey { key_id, .. } => Agent::api_key(*key_id),
            Self::Guest { reservation_id, .. } => Agent::guest(*reservation_id),
        }
    }

    #[must_use]
    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Self::Staff {
                role: Role::Admin,
                ..
            }
        )
    }

    /// The staff user behind the caller, with their role (API keys and guests have none).
    #[must_use]
    pub fn staff(&self) -> Option<(Uuid, Role)> {
        match self {
            Self::Staff { user_id, role, .. } => Some((*user_id, *role)),
            _ => None,
        }
    }

    /// Whether the caller works only their own tasks: housekeepers and maintenance, not the
    /// supervisors and managers of the property.
    #[must_use]
    pub fn works_own_tasks_only(&self) -> bool {
        matches!(
            self.staff(),
            Some((_, Role::Housekeeper | Role::Maintenance))
        )
    }

    /// Whether a task of `kind` is of the caller's trade: repairs for maintenance, cleanings
    /// for housekeepers; anything for everyone else who may work tasks (managers). Only a task
    /// of one's trade can be claimed or is offered as free work.
    #[must_use]
    pub fn of_trade(&self, kind: crate::domain::task::TaskKind) -> bool {
        match self.staff() {
            Some((_, Role::Maintenance)) => kind == crate::domain::task::TaskKind::Maintenance,
            Some((_, Role::Housekeeper)) => kind.cleans(),
            _ => true,
        }
    }

    /// What creating a task asks of the caller: housekeepers and maintenance report problems
    /// (an unassigned repair, which goes to the maintenance staff on duty) as their work;
    /// everything else is the supervisors'.
    #[must_use]
    pub fn task_creation(&self, kind: crate::domain::task::TaskKind, assigned: bool) -> Action {
        let report = kind == crate::domain::task::TaskKind::Maintenance && !assigned;
        if report && self.works_own_tasks_only() {
            Action::TaskWork
        } else {
            Action::TaskManage
        }
    }

    /// What reading one task asks of the caller: their work, or supervision.
    #[must_use]
    pub fn task_reading(&self) -> Action {
        if self.works_own_tasks_only() {
            Action::TaskWork
        } else {
            Action::TaskManage
        }
    }

    /// Whether the caller may work a task assigned to `assignee` (given that they may work
    /// tasks in its property): supervisors any, housekeepers and maintenance their own.
    #[must_use]
    pub fn may_work(&self, assignee: Option<Uuid>) -> bool {
        !self.works_own_tasks_only() || assignee == self.staff().map(|(u, _)| u)
    }

    /// What following `user`'s task queue asks of the caller: one's own queue is work,
    /// anyone else's is supervision.
    #[must_use]
    pub fn queue_reading(&self, user: Uuid) -> Action {
        match self.staff() {
            Some((me, _)) if me == user => Action::TaskWork,
            _ => Action::TaskManage,
        }
    }

    /// Whether the caller is the guest of this stay (a guest follows their own reservation
    /// and nothing else).
    #[must_use]
    pub fn is_guest_of(&self, reservation: Uuid, property: PropertyId) -> bool {
        matches!(self, Self::Guest { reservation_id, property: p }
            if *reservation_id == reservation && *p == property)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff(role: Role, property: PropertyId) -> Principal {
        Principal::Staff {
            user_id: Uuid::new_v4(),
            property: (role != Role::Admin).then_some(property),
            role,
        }
    }

    #[test]
    fn the_matrix_as_the_readme_shows_it() {
        use Action::*;
        use Role::*;
        let expect = |role: Role, actions: &[Action]| {
            for a in Action::ALL {
                assert_eq!(role_allows(role, a), actions.contains(&a), "{role:?} {a:?}");
            }
        };
        expect(Admin, &Action::ALL);
        expect(
            Manager,
            &[
                PropertyRead,
                RoomRead,
                RoomCreate,
                RoomStatus,
                RoomBlock,
                UserManage,
                ApiKeyManage,
                AuditRead,
                GuestManage,
                RoomTypeManage,
                ReservationRead,
                ReservationManage,
                ReservationOverbook,
                NightAudit,
                PropertySettings,
                TaskManage,
                TaskWork,
                Chat,
                CannedReplyManage,
                VenueManage,
                TableService,
            ],
        );
        expect(
            FrontDesk,
            &[
                PropertyRead,
                RoomRead,
                RoomStatus,
                RoomBlock,
                GuestManage,
                ReservationRead,
                ReservationManage,
                NightAudit,
                TaskManage,
                Chat,
                TableService,
            ],
        );
        expect(Housekeeper, &[PropertyRead, RoomRead, RoomStatus, TaskWork]);
        expect(Maintenance, &[PropertyRead, RoomRead, RoomBlock, TaskWork]);
        expect(Restaurant, &[PropertyRead, TableService]);
    }

    #[test]
    fn another_property_is_not_found_whatever_the_role() {
        let (mine, theirs) = (PropertyId::new(), PropertyId::new());
        for role in Role::ALL.into_iter().filter(|r| *r != Role::Admin) {
            let p = staff(role, mine);
            for a in Action::ALL {
                assert_eq!(
                    p.authorize(a, theirs),
                    Err(Denial::NotFound),
                    "{role:?} {a:?}"
                );
            }
        }
        let admin = staff(Role::Admin, mine);
        assert_eq!(admin.authorize(Action::AuditRead, theirs), Ok(()));
    }

    #[test]
    fn own_property_follows_the_matrix() {
        let pid = PropertyId::new();
        let hk = staff(Role::Housekeeper, pid);
        assert_eq!(hk.authorize(Action::RoomStatus, pid), Ok(()));
        assert_eq!(hk.authorize(Action::RoomBlock, pid), Err(Denial::Forbidden));
        assert!(hk.sees(pid));
        assert!(!hk.sees(PropertyId::new()));
    }

    #[test]
    fn only_admins_create_properties() {
        let pid = PropertyId::new();
        for role in Role::ALL {
            let allowed = staff(role, pid)
                .authorize_global(Action::PropertyCreate)
                .is_ok();
            assert_eq!(allowed, role == Role::Admin, "{role:?}");
        }
    }

    #[test]
    fn api_keys_get_exactly_their_permissions_in_their_property() {
        let pid = PropertyId::new();
        let key = Principal::ApiKey {
            key_id: Uuid::new_v4(),
            property: pid,
            permissions: vec![Action::RoomRead],
        };
        assert_eq!(key.authorize(Action::RoomRead, pid), Ok(()));
        assert_eq!(
            key.authorize(Action::RoomStatus, pid),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            key.authorize(Action::RoomRead, PropertyId::new()),
            Err(Denial::NotFound)
        );
        assert!(key.authorize_global(Action::PropertyCreate).is_err());
        assert!(!Action::UserManage.grantable_to_api_keys());
        assert!(Action::RoomStatus.grantable_to_api_keys());
    }

    #[test]
    fn guests_see_their_property_but_no_rooms() {
        let pid = PropertyId::new();
        let guest = Principal::Guest {
            reservation_id: Uuid::new_v4(),
            property: pid,
        };
        assert_eq!(
            guest.authorize(Action::RoomRead, pid),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            guest.authorize(Action::RoomRead, PropertyId::new()),
            Err(Denial::NotFound)
        );
        assert!(guest.agent().as_str().starts_with("guest:"));
    }

    #[test]
    fn workers_work_their_own_tasks_of_their_trade_and_supervisors_any() {
        use crate::domain::task::TaskKind;
        let pid = PropertyId::new();
        let hk = staff(Role::Housekeeper, pid);
        let tech = staff(Role::Maintenance, pid);
        let sup = staff(Role::Manager, pid);
        let (me, _) = hk.staff().unwrap();
        assert!(hk.works_own_tasks_only() && tech.works_own_tasks_only());
        assert!(!sup.works_own_tasks_only());
        assert!(hk.may_work(Some(me)) && !hk.may_work(Some(Uuid::new_v4())) && !hk.may_work(None));
        assert!(sup.may_work(Some(me)) && sup.may_work(None));
        assert!(hk.of_trade(TaskKind::Departure) && !hk.of_trade(TaskKind::Maintenance));
        assert!(tech.of_trade(TaskKind::Maintenance) && !tech.of_trade(TaskKind::Departure));
        assert!(sup.of_trade(TaskKind::Maintenance));
        // A worker reports an unassigned repair as work; anything else is supervision.
        assert_eq!(
            hk.task_creation(TaskKind::Maintenance, false),
            Action::TaskWork
        );
        assert_eq!(
            hk.task_creation(TaskKind::Maintenance, true),
            Action::TaskManage
        );
        assert_eq!(
            hk.task_creation(TaskKind::Departure, false),
            Action::TaskManage
        );
        assert_eq!(
            sup.task_creation(TaskKind::Maintenance, false),
            Action::TaskManage
        );
        assert_eq!(
            (hk.task_reading(), sup.task_reading()),
            (Action::TaskWork, Action::TaskManage)
        );
        assert_eq!(hk.queue_reading(me), Action::TaskWork);
        assert_eq!(hk.queue_reading(Uuid::new_v4()), Action::TaskManage);
        let rid = Uuid::new_v4();
        let guest = Principal::Guest {
            reservation_id: rid,
            property: pid,
        };
        assert!(guest.is_guest_of(rid, pid));
        assert!(
            !guest.is_guest_of(Uuid::new_v4(), pid) && !guest.is_guest_of(rid, PropertyId::new())
        );
        assert!(!sup.is_guest_of(rid, pid));
    }
}
