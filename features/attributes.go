package features

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Attributes are what a user is, as opposed to what they do: set by the
// business through the API, not learned from events.
type Attributes struct {
	Region   string
	Country  string // ISO 3166-1 alpha-2 or alpha-3, upper case
	AgeBand  string // e.g. "25-34"
	Gender   string
	Tier     int      // membership level, 0 when none
	Channels []string // channels the user accepts messages on: email, sms, app_push, ...
	Labels   []Label  // free-form key/value labels, sorted by key
}

// Label is one free-form attribute.
type Label struct{ Key, Value string }

// Limits of attribute values.
const (
	maxAttrBytes = 64
	maxChannels  = 16
	maxLabels    = 32
	maxTier      = 1000
)

// AttributesUpdate changes some attributes of one user: nil fields are left
// as they are; a non-nil field replaces the stored value (an empty string or
// slice clears it).
type AttributesUpdate struct {
	User     string
	Region   *string
	Country  *string
	AgeBand  *string
	Gender   *string
	Tier     *int
	Channels *[]string
	Labels   *[]Label
}

// AttributeError names the attribute that is wrong.
type AttributeError struct {
	Field, Message string
}

func (e *AttributeError) Error() string { return e.Field + " " + e.Message }

// Validate checks an update and normalizes it (country to upper case,
// channels lower-cased and de-duplicated, labels sorted by key).
func (u *AttributesUpdate) Validate() error {
	str := func(field string, v *string) error {
		if v == nil {
			return nil
		}
		if len(*v) > maxAttrBytes || !utf8.ValidString(*v) {
			return &AttributeError{field, fmt.Sprintf("must be UTF-8 of at most %d bytes", maxAttrBytes)}
		}
		return nil
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"region", u.Region}, {"country", u.Country}, {"age_band", u.AgeBand}, {"gender", u.Gender}} {
		if err := str(f.name, f.v); err != nil {
			return err
		}
	}
	if u.Country != nil {
		c := strings.ToUpper(*u.Country)
		if c != "" && (len(c) < 2 || len(c) > 3 || strings.IndexFunc(c, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0) {
			return &AttributeError{"country", "must be an ISO 3166-1 code of 2 or 3 letters"}
		}
		u.Country = &c
	}
	if u.Tier != nil && (*u.Tier < 0 || *u.Tier > maxTier) {
		return &AttributeError{"tier", fmt.Sprintf("must be an integer from 0 to %d", maxTier)}
	}
	if u.Channels != nil {
		if len(*u.Channels) > maxChannels {
			return &AttributeError{"channels", fmt.Sprintf("has more than %d entries", maxChannels)}
		}
		var chans []string
		for i, c := range *u.Channels {
			c = strings.ToLower(c)
			if c == "" || len(c) > 32 || strings.IndexFunc(c, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-')
			}) >= 0 {
				return &AttributeError{fmt.Sprintf("channels[%d]", i), "must be a name of letters, digits, _ or - (at most 32)"}
			}
			if !slices.Contains(chans, c) {
				chans = append(chans, c)
			}
		}
		u.Channels = &chans
	}
	if u.Labels != nil {
		if len(*u.Labels) > maxLabels {
			return &AttributeError{"labels", fmt.Sprintf("has more than %d entries", maxLabels)}
		}
		labels := slices.Clone(*u.Labels)
		for _, l := range labels {
			if l.Key == "" || len(l.Key) > maxAttrBytes || len(l.Value) > maxAttrBytes ||
				!utf8.ValidString(l.Key) || !utf8.ValidString(l.Value) {
				return &AttributeError{"labels." + l.Key, fmt.Sprintf("keys and values must be UTF-8 of at most %d bytes", maxAttrBytes)}
			}
		}
		slices.SortFunc(labels, func(a, b Label) int { return strings.Compare(a.Key, b.Key) })
		u.Labels = &labels
	}
	return nil
}

// applyTo sets the update's fields on a.
func (u *AttributesUpdate) applyTo(a *Attributes) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&a.Region, u.Region)
	set(&a.Country, u.Country)
	set(&a.AgeBand, u.AgeBand)
	set(&a.Gender, u.Gender)
	if u.Tier != nil {
		a.Tier = *u.Tier
	}
	if u.Channels != nil {
		a.Channels = slices.Clone(*u.Channels)
	}
	if u.Labels != nil {
		a.Labels = slices.Clone(*u.Labels)
	}
}

// Label returns the value of label key, "" when absent.
func (a *Attributes) Label(key string) string {
	for _, l := range a.Labels {
		if l.Key == key {
			return l.Value
		}
	}
	return ""
}

// Accepts reports whether the user accepts messages on channel.
func (a *Attributes) Accepts(channel string) bool { return slices.Contains(a.Channels, channel) }

// IsZero reports whether no attribute is set.
func (a *Attributes) IsZero() bool {
	return a.Region == "" && a.Country == "" && a.AgeBand == "" && a.Gender == "" && a.Tier == 0 &&
		len(a.Channels) == 0 && len(a.Labels) == 0
}
