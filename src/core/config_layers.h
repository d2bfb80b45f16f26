// A command's config in layers, lowest first: the defaults or a preset, then a config file, then only the flags the
// user gave — each layer applied as a JSON merge patch (RFC 7386, https://www.rfc-editor.org/rfc/rfc7386) over the
// ones below it; the result is read once by the config's strict from_json (an unknown key is an error naming it).
// An explicit flag wins even when its value equals the default, because a flag layer holds what was *given*, not
// what differs. Objects are merged key by key, lists and values replaced, null removes a key. One rule on top of
// RFC 7386: an object whose "arch" changes (a model of another family, a search space over another family) is
// replaced rather than merged, since the old family's fields mean nothing to the new one.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace nemokd {

// Applies `patch` to `target` as above.
void merge_layer(nlohmann::json& target, const nlohmann::json& patch);

// base <- the JSON object in `config_file` (none when empty; ConfigError naming the file if it is not an object)
// <- flags.
nlohmann::json layer_config(nlohmann::json base, const std::string& config_file, const nlohmann::json& flags);

}  // namespace nemokd
