package main

import (
	"context"
	"net/http"
	"os/exec"
	"testing"
	"time"
)

// TestStartMoto: the harness's moto answers on loopback and is gone after
// stop.
func TestStartMoto(t *testing.T) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Skip("moto_server is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	m, err := startMoto(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(m.url + "/moto-api/")
	if err != nil {
		m.stop()
		t.Fatal(err)
	}
	resp.Body.Close()
	m.stop()
	if _, err := http.Get(m.url + "/moto-api/"); err == nil {
		t.Fatal("moto still answers after stop")
	}
}
