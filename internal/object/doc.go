// Package object holds what the plugin keeps of Kubernetes API objects:
// Service, Slice (with Endpoint and Port), Node, and the interned location
// (Loc) of an endpoint. Objects are reduced and validated as they arrive
// (Transform*, SliceFromAPI, and the Codec that reads the watch stream's
// EndpointSlices straight from protobuf), then never changed: what answers
// need and nothing else.
//
// Do not add fields an answer does not need: every field is paid for by
// every endpoint of a large cluster, in memory and on each event. Of a
// slice's annotations only the trigger time (programming latency) is kept;
// of a Service's, the Policy parsed from them. The
// annotation policy (Policy) and validation are here because they decide
// what of an object is kept. It imports no other package of the plugin.
package object
