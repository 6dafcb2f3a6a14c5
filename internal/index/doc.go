// Package index is the store of precomputed answers: the watches hand it
// reduced objects, it builds each Service's record sets and its PTRs, and
// queries read what it published.
//
// Its API is New(Options); UpdateService, UpdateSlice(At), MarkSynced,
// MarkServicesSynced and Run for the watches; Service(key) and PTR(addr),
// which return read-only views (Records, RRSet, PTRs), and a few questions
// (HasNamespace, HasAddressIn, Serial, Counts) for queries. The
// copy-on-write structures behind them (hostMap, ptrTable, shardMap) stay
// inside; metrics reach it only as Options.Hooks. It imports object alone.
//
// Words, each with one meaning here:
//
//   - taken in: a change is filed under the lock (Update*): the index holds
//     it, nothing published shows it yet, and the index is pending.
//   - publish: make a built version visible to reads, by atomic stores
//     (publish, Flush). The builder goroutine publishes after the settle
//     period; a read that finds the index pending publishes first
//     (publishPending), so no answer misses a change taken in.
//   - published: what reads see (the Services in svcs, the PTR table).
//   - derive: turn one slice into its contributions (items, names, PTRs);
//     rederived endpoints are those of a changed slice derived anew, the
//     rest are taken from its previous version.
//   - build: turn a Service's contributions into record sets (builder,
//     buildWide, hostSetOf); sets are built when first read.
//   - ready: an endpoint's conditions.ready; serving: its
//     conditions.serving. A Service whose headless.dns/publish is serving
//     (Policy.PublishServing) also publishes endpoints that are serving but
//     not ready: those items are servingOnly, and the Service name lists
//     them only when no endpoint is ready. With the hostnames policy
//     (headless.dns/publish-not-ready, Options.Hostnames) the endpoints
//     that are neither ready nor terminating are published too: those
//     items are nameOnly, under their own names and PTRs, never under the
//     Service name or its ports (object.Policy.Publish decides).
//   - synced: every watch has delivered its initial list (MarkSynced);
//     caught up: that sync is published whole.
package index
