package storagesync

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

// async answers a handler's writes (PUT, PATCH, DELETE) as Azure's long-running operations:
// 202 Accepted with Azure-AsyncOperation and Location naming an operation status, which says
// Succeeded (or Failed with the error) when polled; a PUT or PATCH poller then GETs the
// resource. Refusals (authorization, validation) answer at once, as Azure's front door does.
type async struct {
	p        *Provider
	h        arm.Handler
	workflow string
}

// operation is a finished long-running operation, as its status endpoint reports it.
type operation struct {
	Name      string          `json:"name"`
	ID        string          `json:"id"`
	Status    string          `json:"status"`
	StartTime time.Time       `json:"startTime"`
	EndTime   time.Time       `json:"endTime"`
	Error     json.RawMessage `json:"error,omitempty"`
	// Scope is the resource group the operation ran in: its status is read there.
	Scope string `json:"scope"`
}

// Unwrap is the handler served through.
func (a *async) Unwrap() arm.Handler { return a.h }

func (a *async) ServeARM(c *arm.Call) (int, any, error) {
	write := c.R.Method == http.MethodPut || c.R.Method == http.MethodPatch || c.R.Method == http.MethodDelete
	if !write || c.ID.IsCollection() {
		return a.h.ServeARM(c)
	}
	if c.R.Method == http.MethodDelete && len(c.ID.Types) == 1 {
		if err := a.p.serviceEmpty(c); err != nil {
			return 0, nil, err
		}
	}
	start := a.p.now().UTC()
	status, body, err := a.h.ServeARM(c)
	if err != nil {
		return status, body, err
	}
	if c.R.Method == http.MethodDelete && status == http.StatusNoContent {
		return status, nil, nil // nothing to delete: Azure answers 204 at once
	}
	loc := "westus"
	_ = c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		if svc, err := arm.GetResourceTx(tx, serviceOf(c.ID)); err == nil && svc.Location != "" {
			loc = svc.Location
		}
		return nil
	})
	wid, opID := uuid.NewString(), uuid.NewString()
	rg := "/subscriptions/" + c.ID.SubscriptionID + "/resourceGroups/" + c.ID.ResourceGroup
	opPath := rg + "/providers/" + Namespace + "/locations/" + loc + "/workflows/" + wid + "/operations/" + opID
	op := operation{Name: opID, ID: opPath, Status: "Succeeded", StartTime: start, EndTime: a.p.now().UTC(), Scope: rg}
	b, _ := json.Marshal(op)
	if err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error { return tx.Put(colOperations, opID, b) }); err != nil {
		return 0, nil, err
	}
	url := "https://" + c.R.Host + opPath + "?api-version=" + c.APIVersion
	c.W.Header().Set("Azure-AsyncOperation", url)
	c.W.Header().Set("Location", url)
	c.W.Header().Set("Retry-After", "0")
	c.W.Header().Set("x-ms-correlation-request-id", wid)
	return http.StatusAccepted, nil, nil
}

// operations serves an operation's status: .../locations/{l}/workflows/{w}/operations/{id}
// (resource group) and /subscriptions/{s}/providers/Microsoft.StorageSync/locations/{l}/
// operations/{id}.
type operations struct{}

func (operations) ServeARM(c *arm.Call) (int, any, error) {
	if c.ID.IsCollection() {
		return 0, nil, azerr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "Operations are read one at a time.")
	}
	var op operation
	err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		b, err := tx.Get(colOperations, c.ID.Name())
		if errors.Is(err, store.ErrNotFound) {
			return azerr.NotFound("OperationNotFound", "The operation '%s' was not found.", c.ID.Name())
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &op)
	})
	if err != nil {
		return 0, nil, err
	}
	// Read where it ran: an operation in another resource group or subscription is not found.
	if !strings.HasPrefix(arm.Key(c.ID.Raw), arm.Key("/subscriptions/"+c.ID.SubscriptionID)) ||
		(c.ID.ResourceGroup != "" && arm.Key(op.Scope) != arm.Key("/subscriptions/"+c.ID.SubscriptionID+"/resourceGroups/"+c.ID.ResourceGroup)) ||
		!strings.HasPrefix(arm.Key(op.Scope), arm.Key("/subscriptions/"+c.ID.SubscriptionID+"/")) {
		return 0, nil, azerr.NotFound("OperationNotFound", "The operation '%s' was not found.", c.ID.Name())
	}
	return http.StatusOK, op, nil
}

// workflows serves .../storageSyncServices/{s}/workflows/{id}: every workflow has succeeded.
type workflows struct{}

func (workflows) ServeARM(c *arm.Call) (int, any, error) {
	if c.ID.IsCollection() {
		return http.StatusOK, map[string]any{"value": []any{}}, nil
	}
	if _, err := uuid.Parse(c.ID.Name()); err != nil {
		return 0, nil, azerr.NotFound("ResourceNotFound", "The workflow '%s' was not found.", c.ID.Name())
	}
	return http.StatusOK, map[string]any{"id": c.ID.ResourceID(), "name": c.ID.Name(), "type": WorkflowType,
		"properties": map[string]any{"status": "succeeded", "operation": "do", "steps": "[]", "lastStepName": "", "lastOperationId": ""}}, nil
}

// nameAvailability answers POST .../locations/{l}/checkNameAvailability: a Storage Sync
// Service name is taken when a service of that name exists in the region.
type nameAvailability struct{}

func (nameAvailability) ServeARM(c *arm.Call) (int, any, error) {
	var in struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := c.Decode(&in); err != nil {
		return 0, nil, err
	}
	if !strings.EqualFold(in.Type, ServiceType) {
		return 0, nil, invalid("type '%s' is not valid: use %s.", in.Type, ServiceType)
	}
	if in.Name == "" || len(in.Name) > 260 {
		return http.StatusOK, map[string]any{"nameAvailable": false, "reason": "Invalid", "message": "The name must have 1 to 260 characters."}, nil
	}
	loc := arm.NormalizeLocation(c.ID.Names[0])
	taken := false
	err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		var err error
		taken, err = serviceNameTakenTx(tx, c.ID.SubscriptionID, loc, in.Name)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	if taken {
		return http.StatusOK, map[string]any{"nameAvailable": false, "reason": "AlreadyExists",
			"message": "A Storage Sync Service named '" + in.Name + "' already exists in " + loc + "."}, nil
	}
	return http.StatusOK, map[string]any{"nameAvailable": true}, nil
}
