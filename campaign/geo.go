package campaign

import (
	"strings"

	"golang.org/x/text/language"
)

// CanonicalCountry returns the ISO 3166-1 alpha-3 code (the form OpenRTB uses)
// of a country given as an alpha-2 or alpha-3 code in any case, and false for
// anything that is not a country.
func CanonicalCountry(code string) (string, bool) {
	if len(code) != 2 && len(code) != 3 {
		return "", false
	}
	r, err := language.ParseRegion(code)
	if err != nil || !r.IsCountry() {
		return "", false
	}
	return r.ISO3(), true
}

// CanonicalRegion returns the ISO 3166-2 form ("US-CA") of a subdivision code
// within a country given in either ISO 3166-1 form, and false when the country
// is unknown or the code is empty or malformed.
func CanonicalRegion(country, region string) (string, bool) {
	if len(region) == 0 || len(region) > 3 {
		return "", false
	}
	r, err := language.ParseRegion(country)
	if err != nil || !r.IsCountry() {
		return "", false
	}
	for i := 0; i < len(region); i++ {
		c := region[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return "", false
		}
	}
	return r.String() + "-" + strings.ToUpper(region), true
}

// parseRegionKey splits and canonicalizes a campaign's "US-CA" region.
func parseRegionKey(s string) (string, bool) {
	i := strings.IndexByte(s, '-')
	if i < 0 {
		return "", false
	}
	return CanonicalRegion(s[:i], s[i+1:])
}

// Device types of OpenRTB 2.x (AdCOM DeviceType).
const (
	DeviceMobileTablet    = 1
	DevicePC              = 2
	DeviceCTV             = 3
	DevicePhone           = 4
	DeviceTablet          = 5
	DeviceConnected       = 6
	DeviceSetTopBox       = 7
	DeviceOOH             = 8
	maxDeviceType         = 8
	deviceTypeNamesForDoc = "mobile, desktop, ctv, phone, tablet, connected_device, set_top_box, dooh"
)

// deviceTypeNames maps a campaign's device type name to the OpenRTB device
// types it covers.
var deviceTypeNames = map[string][]int{
	"mobile":           {DeviceMobileTablet, DevicePhone, DeviceTablet},
	"desktop":          {DevicePC},
	"ctv":              {DeviceCTV, DeviceSetTopBox},
	"phone":            {DevicePhone},
	"tablet":           {DeviceTablet},
	"connected_device": {DeviceConnected},
	"set_top_box":      {DeviceSetTopBox},
	"dooh":             {DeviceOOH},
}

// deviceTypes returns the OpenRTB device types a campaign's device type
// covers: a name, or a number from 1 to 8.
func deviceTypes(s string) ([]int, bool) {
	if v, ok := deviceTypeNames[s]; ok {
		return v, true
	}
	if len(s) == 1 && s[0] >= '1' && s[0] <= '0'+maxDeviceType {
		return deviceTypeNumbers[s[0]-'1' : s[0]-'0'], true
	}
	return nil, false
}

var deviceTypeNumbers = []int{1, 2, 3, 4, 5, 6, 7, 8}

// CanonicalOS folds the free-text operating system names bid requests carry
// ("iOS", "iPadOS", "OS X", "Mac OS", "Windows 10", "android") into one short
// lowercase name ("ios", "macos", "windows", "android", ...). Unknown names are
// lowercased with spaces removed.
func CanonicalOS(os string) string {
	if os == "" {
		return ""
	}
	var buf [32]byte
	b := buf[:0]
	for i := 0; i < len(os) && len(b) < len(buf); i++ {
		c := os[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == ' ' || c == '_' || c == '-' {
			continue
		}
		b = append(b, c)
	}
	s := string(b) // does not escape, so it stays on the stack; the default case copies it
	switch {
	case s == "ios" || s == "iphoneos" || s == "ipados":
		return "ios"
	case s == "osx" || s == "macos" || s == "macosx" || s == "mac":
		return "macos"
	case strings.HasPrefix(s, "windows"):
		return "windows"
	case strings.HasPrefix(s, "android"):
		return "android"
	case s == "tvos" || s == "appletvos":
		return "tvos"
	case s == "linux" || s == "ubuntu":
		return "linux"
	case s == "chromeos" || s == "chromiumos" || s == "cros":
		return "chromeos"
	case s == "roku" || s == "rokuos":
		return "roku"
	case s == "tizen":
		return "tizen"
	case s == "webos":
		return "webos"
	case s == "fireos":
		return "fireos"
	}
	return strings.Clone(s)
}

// CanonicalDomain lowercases a domain or URL and strips its scheme, a leading
// "www.", any port, path, query or trailing dot: "https://WWW.Example.com/x"
// becomes "example.com". It returns "" for an empty host.
func CanonicalDomain(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#:"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(s, ".")
	lower := true
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			lower = false
			break
		}
	}
	if !lower {
		s = strings.ToLower(s)
	}
	return strings.TrimPrefix(s, "www.")
}

// ParentDomains calls fn with d and each parent domain of d that still has a
// dot: "a.b.example.com", "b.example.com", "example.com". It stops when fn
// returns false.
func ParentDomains(d string, fn func(string) bool) {
	for d != "" {
		if !fn(d) {
			return
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return
		}
		d = d[i+1:]
		if strings.IndexByte(d, '.') < 0 {
			return
		}
	}
}
