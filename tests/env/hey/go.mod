// Wrapper module: pins hey, the HTTP load generator Flagger's load tester runs for the
// Canaries' rollout webhooks (as the upstream tenants' `hey -z ... -q ... -c ...`), and its
// dependencies. It has no Go files: ferry-env builds the command by its package path.
// Do not `go mod tidy` it (that would drop the pins).
module ferry-env/hey

go 1.25

require (
	github.com/rakyll/hey v0.1.5 // indirect
	golang.org/x/net v0.48.0 // indirect
	golang.org/x/text v0.33.0 // indirect
)
