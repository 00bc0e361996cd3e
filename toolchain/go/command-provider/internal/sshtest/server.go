// Package sshtest runs a small in-process SSH server on 127.0.0.1 for tests:
// exec via /bin/sh, env requests filtered like sshd's AcceptEnv, exit status,
// signals, and direct-tcpip so it can serve as a jump host. It lets the tests
// exercise real SSH handshakes without an sshd on the machine.
package sshtest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Server is a running test SSH server.
type Server struct {
	Addr     string
	Host     string
	Port     int
	HostKeys []ssh.Signer // ed25519 first, then ecdsa (x/crypto prefers ecdsa)
	// AcceptEnv lists variable names the server accepts, like sshd's AcceptEnv.
	AcceptEnv map[string]bool
	// Connections counts accepted TCP connections (to observe retries).
	Connections atomic.Int32

	ln     net.Listener
	config *ssh.ServerConfig
	wg     sync.WaitGroup
}

// Options configure authentication.
type Options struct {
	AuthorizedKey ssh.PublicKey // allowed public key (nil: none)
	Password      string        // allowed password ("": none)
	User          string        // required user ("": any)
	AcceptEnv     []string
}

// Start launches a server; it is closed when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edSigner, _ := ssh.NewSignerFromKey(edPriv)
	ecSigner, _ := ssh.NewSignerFromKey(ecPriv)

	s := &Server{HostKeys: []ssh.Signer{edSigner, ecSigner}, AcceptEnv: map[string]bool{}}
	for _, e := range opts.AcceptEnv {
		s.AcceptEnv[e] = true
	}
	userOK := func(u string) bool { return opts.User == "" || u == opts.User }
	s.config = &ssh.ServerConfig{}
	if opts.AuthorizedKey != nil {
		want := opts.AuthorizedKey.Marshal()
		s.config.PublicKeyCallback = func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if userOK(c.User()) && string(k.Marshal()) == string(want) {
				return nil, nil
			}
			return nil, errors.New("key not authorized")
		}
	}
	if opts.Password != "" {
		s.config.PasswordCallback = func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if userOK(c.User()) && string(pw) == opts.Password {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		}
	}
	for _, k := range s.HostKeys {
		s.config.AddHostKey(k)
	}

	s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = s.ln.Addr().String()
	host, port, _ := net.SplitHostPort(s.Addr)
	s.Host = host
	s.Port, _ = strconv.Atoi(port)
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { _ = s.ln.Close(); s.wg.Wait() })
	return s
}

// AuthorizedKeyLine renders host key i in authorized_keys form with a comment.
func (s *Server) AuthorizedKeyLine(i int) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.HostKeys[i].PublicKey()))) + " root@testhost"
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.Connections.Add(1)
		go s.handleConn(conn)
	}
}

func (s *Server) handleConn(nc net.Conn) {
	defer nc.Close()
	sc, chans, reqs, err := ssh.NewServerConn(nc, s.config)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		switch nch.ChannelType() {
		case "session":
			ch, chReqs, err := nch.Accept()
			if err != nil {
				continue
			}
			go s.handleSession(ch, chReqs)
		case "direct-tcpip":
			go handleDirectTCPIP(nch)
		default:
			_ = nch.Reject(ssh.UnknownChannelType, "unsupported")
		}
	}
}

// handleDirectTCPIP forwards a jump-host connection to the requested target.
func handleDirectTCPIP(nch ssh.NewChannel) {
	var p struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &p); err != nil {
		_ = nch.Reject(ssh.ConnectionFailed, "bad payload")
		return
	}
	target, err := net.Dial("tcp", net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port))))
	if err != nil {
		_ = nch.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		target.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	go func() { _, _ = io.Copy(target, ch); _ = target.(*net.TCPConn).CloseWrite() }()
	_, _ = io.Copy(ch, target)
	_ = ch.Close()
	_ = target.Close()
}

func (s *Server) handleSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	env := []string{"PATH=" + os.Getenv("PATH")}
	var cmd *exec.Cmd
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			if ssh.Unmarshal(req.Payload, &kv) != nil || !s.AcceptEnv[kv.Name] {
				_ = req.Reply(false, nil)
				continue
			}
			env = append(env, kv.Name+"="+kv.Value)
			_ = req.Reply(true, nil)
		case "exec":
			var p struct{ Command string }
			if ssh.Unmarshal(req.Payload, &p) != nil || cmd != nil {
				_ = req.Reply(false, nil)
				continue
			}
			cmd = exec.Command("/bin/sh", "-c", p.Command)
			cmd.Env = env
			cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				_ = req.Reply(false, nil)
				return
			}
			_ = req.Reply(true, nil)
			go func(c *exec.Cmd) {
				err := c.Wait()
				status := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					status = ee.ExitCode()
					if status < 0 {
						status = 128 + int(syscall.SIGTERM)
					}
				}
				_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(status)))
				_ = ch.Close()
			}(cmd)
		case "signal":
			if cmd != nil && cmd.Process != nil {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			}
			if req.WantReply {
				_ = req.Reply(true, nil)
			}
		default:
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
	if cmd != nil && cmd.Process != nil {
		// Client went away: don't leave the command running.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// String helps failure messages.
func (s *Server) String() string { return fmt.Sprintf("sshtest.Server(%s)", s.Addr) }
