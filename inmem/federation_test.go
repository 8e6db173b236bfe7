package inmem_test

import (
	"testing"

	"github.com/mcpgate/mcpgate/inmem"
	"github.com/mcpgate/mcpgate/storetest"
)

func TestFederation(t *testing.T) {
	storetest.RunFederation(t, func(t *testing.T) storetest.FederationStore { return inmem.NewFederationStore() })
}
