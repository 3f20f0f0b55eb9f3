using System.Collections;
using System.Reflection;
using System.Text.Json.Nodes;
using Meshgate.Configuration.Parsing;

namespace Meshgate.Configuration.Model;

/// <summary>
/// A definition as JSON with the same keys and value spellings as the YAML (5s, 1MiB, round-robin),
/// and every [Secret] value replaced, for the admin API.
/// </summary>
public static class DefinitionJson
{
    public const string Redacted = "[redacted]";

    public static JsonNode? ToJson(object? value)
    {
        switch (value)
        {
            case null: return null;
            case string s: return JsonValue.Create(s);
            case bool b: return JsonValue.Create(b);
            case int i: return JsonValue.Create(i);
            case long l: return JsonValue.Create(l);
            case double d: return JsonValue.Create(d);
            case TimeSpan t: return JsonValue.Create(Duration.Format(t));
            case ByteSize size: return JsonValue.Create(size.ToString());
            case Enum e: return JsonValue.Create(ConfigReader.EnumName(e.GetType(), e));
            case IDictionary dictionary:
            {
                var obj = new JsonObject();
                foreach (DictionaryEntry entry in dictionary) obj[(string)entry.Key] = ToJson(entry.Value);
                return obj;
            }
            case IEnumerable list:
                return new JsonArray(list.Cast<object?>().Select(ToJson).ToArray());
            default:
            {
                var obj = new JsonObject();
                foreach (var property in ConfigReader.BindableProperties(value.GetType()))
                {
                    var item = property.GetValue(value);
                    if (item is null) continue;
                    obj[ConfigReader.KeyOf(property)] = property.GetCustomAttribute<SecretAttribute>() is not null ? JsonValue.Create(Redacted) : ToJson(item);
                }
                return obj;
            }
        }
    }
}
