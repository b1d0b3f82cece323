package server

import (
	"context"
	"log/slog"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/cerulean-azure/cerulean/internal/providers/authorization"
	"github.com/cerulean-azure/cerulean/internal/providers/compute"
	"github.com/cerulean-azure/cerulean/internal/providers/msi"
	"github.com/cerulean-azure/cerulean/internal/sts"
)

// Build wires every component over an opened data folder: the token service, the RBAC gate,
// Resource Manager with its providers, and this server in front.
func Build(ctx context.Context, in *instance.Instance, settings sts.Settings, log *slog.Logger) (*Server, error) {
	tokens, err := sts.New(ctx, in.Dir, in.Store, in.Barrier, in.RootKey, settings)
	if err != nil {
		return nil, err
	}
	svc := arm.New(in.Dir, tokens, access.New(in.Store))
	msi.Register(svc)
	compute.Register(svc)
	authorization.Register(svc)
	tokens.SetHostResolver(svc)
	if err := svc.EnsureSubscription(ctx, in.Tenant.SubscriptionID, in.Tenant.ID, "Cerulean Subscription"); err != nil {
		return nil, err
	}
	return &Server{ARM: svc, STS: tokens, CA: in.CA, Log: log}, nil
}
