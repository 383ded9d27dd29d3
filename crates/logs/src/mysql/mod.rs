pub mod general;
pub mod slow;
