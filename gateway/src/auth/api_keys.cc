#include "auth/api_keys.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace polymesh::gateway {
namespace {

absl::Status EntryError(absl::string_view source, size_t index, absl::string_view name,
                        absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": keys[", index, "]", name.empty() ? "" : " (", name,
                   name.empty() ? "" : ")", field.empty() ? "" : ".", field, ": ", message));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ApiKeys>> ApiKeys::Parse(absl::string_view yaml,
                                                              absl::string_view source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not YAML: ", error.what()));
  }
  if (!root.IsMap() || !root["keys"] || !root["keys"].IsSequence()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": want a list of keys: `keys: [{name: ..., sha256: ...}]`"));
  }
  auto keys = std::shared_ptr<ApiKeys>(new ApiKeys());
  absl::flat_hash_set<std::string> names;
  const YAML::Node entries = root["keys"];
  try {
    for (size_t i = 0; i < entries.size(); ++i) {
      const YAML::Node entry = entries[i];
      if (!entry.IsMap()) return EntryError(source, i, "", "", "want a map");
      const std::string name = entry["name"] ? entry["name"].as<std::string>() : "";
      if (name.empty()) return EntryError(source, i, "", "name", "required");
      if (!names.insert(name).second) {
        return EntryError(source, i, name, "name", "used by an earlier key");
      }
      if (entry["key"]) {
        return EntryError(source, i, name, "key",
                          "keys in the clear are refused: give `sha256:` instead "
                          "(printf %s \"$KEY\" | sha256sum)");
      }
      if (!entry["sha256"]) return EntryError(source, i, name, "sha256", "required");
      const std::optional<Sha256Digest> digest =
          ParseSha256Hex(entry["sha256"].as<std::string>());
      if (!digest.has_value()) {
        return EntryError(source, i, name, "sha256", "want 64 hexadecimal digits");
      }
      ApiKeyCaller caller{.name = name, .groups = {}};
      if (const YAML::Node groups = entry["groups"]) {
        if (!groups.IsSequence()) {
          return EntryError(source, i, name, "groups", "want a list of group names");
        }
        for (const YAML::Node& group : groups) {
          const std::string text = group.as<std::string>();
          if (text.empty()) return EntryError(source, i, name, "groups", "an empty name");
          caller.groups.push_back(text);
        }
      }
      if (!keys->by_hash_.emplace(*digest, std::move(caller)).second) {
        return EntryError(source, i, name, "sha256", "the same key as an earlier entry");
      }
    }
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", error.what()));
  }
  return std::shared_ptr<const ApiKeys>(std::move(keys));
}

absl::StatusOr<std::shared_ptr<const ApiKeys>> ApiKeys::ReadFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read the key file ", path));
  std::stringstream text;
  text << file.rdbuf();
  return Parse(text.str(), path);
}

const ApiKeyCaller* ApiKeys::Find(absl::string_view key) const {
  auto it = by_hash_.find(Sha256(key));
  return it == by_hash_.end() ? nullptr : &it->second;
}

}  // namespace polymesh::gateway
