// Package explain tells why a name has no answer: the reasons (stable codes,
// a one-line message, a fix) of a question the plugin's grammar parsed,
// read from what the index holds taken in, and for Services the watches do
// not bring from a cached, rate-limited Lookup; and the JSON of the HTTP
// endpoint. It imports index and object.
package explain
