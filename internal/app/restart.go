package app

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/tokengate/tokengate/internal/config"
)

// fixedAtStart is what a running server cannot change: the listeners'
// addresses, the Redis connection and the admin listener. (Turning TLS on
// or off is refused by tlsListeners.load.) It is taken from the
// configuration the server started with, after the command-line overrides.
type fixedAtStart struct {
	grpcAddress, httpAddress string
	// grpcFlag and httpFlag say the address came from a flag: the file's
	// value is then not used, so changing it changes nothing.
	grpcFlag, httpFlag bool
	redis              *config.Redis
	admin              *config.Admin
}

func newFixedAtStart(cfg *config.Config, o Options) fixedAtStart {
	return fixedAtStart{
		grpcAddress: cfg.GRPC.Address, httpAddress: cfg.HTTP.Address,
		grpcFlag: o.GRPCAddress != "", httpFlag: o.HTTPAddress != "",
		redis: cfg.Redis, admin: cfg.Admin,
	}
}

// check reports every setting of next that differs from the running one
// and takes a restart, joined, each naming its key; nil when there is none.
// A reload that changes one fails as a whole, so that what the log says
// ("config reloaded") is always what the process does.
func (f fixedAtStart) check(next *config.Config) error {
	var errs []error
	if !f.grpcFlag && next.GRPC.Address != f.grpcAddress {
		errs = append(errs, fmt.Errorf("grpc.address: changing it (%q to %q) takes a restart", f.grpcAddress, next.GRPC.Address))
	}
	if !f.httpFlag && next.HTTP.Address != f.httpAddress {
		errs = append(errs, fmt.Errorf("http.address: changing it (%q to %q) takes a restart", f.httpAddress, next.HTTP.Address))
	}
	// The values are not printed: both sections hold secrets.
	if !reflect.DeepEqual(next.Redis, f.redis) {
		errs = append(errs, errors.New("redis: changing this section takes a restart"))
	}
	if !reflect.DeepEqual(next.Admin, f.admin) {
		errs = append(errs, errors.New("admin: changing this section takes a restart"))
	}
	return errors.Join(errs...)
}
