// Package topology shapes a reply for its client: it finds where the client
// runs (client_zones' PrefixTable, the Nodes store, then the caller's own
// lookup of endpoints), ranks each answer's endpoints for it under the
// Service's traffic distribution, orders the answer by rank, and caps UDP
// replies so that they are never truncated. It works on finished messages
// and knows nothing of the index: a Locator tells it where an address runs.
// It imports object alone.
package topology
