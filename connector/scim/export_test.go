package scim

// QueuedOps is queuedOps, for the external tests.
var QueuedOps = queuedOps
