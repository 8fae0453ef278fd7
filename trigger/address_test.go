package trigger

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/tailor-dev/tailor/audience"
)

func TestCheckWebhookURL(t *testing.T) {
	for _, tt := range []struct {
		url     string
		private bool // refused only without AllowPrivate
		bad     bool // refused always
	}{
		{url: "https://hooks.example.com/tailor"},
		{url: "http://crm.example:8080/in?token=x"},
		{url: "https://93.184.216.34/hook"},
		{url: "https://[2606:4700::1111]/hook"},
		{url: "http://127.0.0.1:1/x", private: true},
		{url: "http://127.9.9.9/", private: true},
		{url: "http://10.0.0.1/", private: true},
		{url: "http://172.16.5.4/", private: true},
		{url: "http://192.168.1.1/", private: true},
		{url: "http://[::1]/", private: true},
		{url: "http://[fd00::1]/", private: true},
		{url: "http://[fe80::1%25eth0]/", private: true},
		{url: "http://169.254.169.254/latest", private: true},
		{url: "http://100.64.0.1/", private: true},
		{url: "http://0.0.0.0/", private: true},
		{url: "http://[::]/", private: true},
		{url: "http://224.0.0.1/", private: true},
		{url: "http://[::ffff:127.0.0.1]/", private: true},
		{url: "http://[64:ff9b::a9fe:a9fe]/", private: true}, // NAT64 of 169.254.169.254
		{url: "http://localhost:8080/", private: true},
		{url: "http://LOCALHOST./", private: true},
		{url: "http://api.localhost/", private: true},
		{url: "http://127.1/", bad: true},
		{url: "http://2130706433/", bad: true},
		{url: "http://0x7f.0.0.1/", bad: true},
		{url: "http://010.0.0.1/", bad: true},
		{url: "ftp://hooks.example.com/", bad: true},
		{url: "file:///etc/passwd", bad: true},
		{url: "http:hooks.example.com", bad: true},
		{url: "http://user:pass@hooks.example.com/", bad: true},
		{url: "http://", bad: true},
	} {
		for _, allow := range []bool{false, true} {
			err := CheckWebhookURL(tt.url, allow)
			wantErr := tt.bad || (tt.private && !allow)
			if (err != nil) != wantErr {
				t.Errorf("CheckWebhookURL(%q, %v) = %v, want error %v", tt.url, allow, err, wantErr)
				continue
			}
			var fe *audience.FieldError
			if err != nil && (!errors.As(err, &fe) || fe.Field != "trigger.webhook") {
				t.Errorf("CheckWebhookURL(%q, %v) = %#v, want an *audience.FieldError for trigger.webhook", tt.url, allow, err)
			}
		}
	}
}

func TestCheckDialRefusesInternalAddresses(t *testing.T) {
	for _, tt := range []struct {
		addr    string
		refused bool
	}{
		{"127.0.0.1:80", true},
		{"127.0.0.53:53", true},
		{"[::1]:443", true},
		{"10.1.2.3:443", true},
		{"172.31.255.255:80", true},
		{"192.168.0.10:8080", true},
		{"[fc00::5]:80", true},
		{"169.254.169.254:80", true},
		{"[fe80::1%eth0]:80", true},
		{"100.64.0.1:80", true},
		{"100.127.255.254:80", true},
		{"0.0.0.0:80", true},
		{"0.1.2.3:80", true},
		{"[::]:80", true},
		{"224.0.0.251:5353", true},
		{"[ff02::1]:80", true},
		{"255.255.255.255:80", true},
		{"[::ffff:10.0.0.1]:80", true},
		{"[64:ff9b::7f00:1]:80", true},
		{"93.184.216.34:443", false},
		{"100.128.0.1:80", false}, // just past carrier-grade NAT
		{"172.32.0.1:80", false},  // just past 172.16.0.0/12
		{"[2606:4700::1111]:443", false},
		{"[64:ff9b::5db8:d822]:443", false}, // NAT64 of a public address
	} {
		err := checkDial("tcp", tt.addr, nil)
		if (err != nil) != tt.refused {
			t.Errorf("checkDial(%q) = %v, want refused %v", tt.addr, err, tt.refused)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "trigger: ") {
			t.Errorf("checkDial(%q) = %q, want the package prefix", tt.addr, err)
		}
	}
}

// The dialer of the default client refuses a name that resolves to an
// internal address: "localhost" resolves offline, from /etc/hosts.
func TestDefaultClientRefusesNameResolvingInternal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c, release := newClient(DeliveryOptions{}.withDefaults())
	defer release()
	resp, err := c.Post("http://localhost:"+port+"/", "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("POST to localhost went through")
	}
	if !strings.Contains(err.Error(), "refusing to connect") {
		t.Errorf("POST to localhost = %v, want a refusal", err)
	}
}
