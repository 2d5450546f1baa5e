//! Replays of the manager's state machine.
