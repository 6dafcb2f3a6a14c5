// Package manifests serves Services, EndpointSlices, Endpoints and Nodes read
// from YAML or JSON files as an in-memory API server: Load reads them (and
// mirrors hand-written Endpoints into EndpointSlices as the mirroring
// controller would), Source holds them with resource versions and watches
// and applies file changes as creates, updates and deletes. The plugin
// watches a Source through the same reflectors as a real API server. It
// imports no other package of the plugin.
package manifests
