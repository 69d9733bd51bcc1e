//! TODO(helper): endpoint
