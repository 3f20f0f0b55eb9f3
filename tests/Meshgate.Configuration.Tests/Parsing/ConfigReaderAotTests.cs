using Meshgate.Configuration.Model;
using Meshgate.Configuration.Parsing;

namespace Meshgate.Configuration.Tests.Parsing;

/// <summary>
/// The Native AOT build (MESHGATE_BUILD=aot scripts/publish) compiles the lists and dictionaries the config reader makes
/// by reflection only if src/Meshgate/Properties/aot.rd.xml names them; a model property of a new collection type
/// would otherwise fail there at start-up, and only there.
/// </summary>
public sealed class ConfigReaderAotTests
{
    [Fact]
    public void AotDirectives_NameEveryCollectionTheModelBinds()
    {
        var directives = File.ReadAllText(Repository.PathOf("src/Meshgate/Properties/aot.rd.xml"));
        var missing = CollectionTypes(typeof(MeshgateDefinition), [])
            .Select(RdXmlName)
            .Where(name => !directives.Contains($"\"{name}\"", StringComparison.Ordinal))
            .ToList();
        Assert.True(missing.Count == 0, "add to src/Meshgate/Properties/aot.rd.xml:\n" + string.Join("\n", missing));
    }

    private static IEnumerable<Type> CollectionTypes(Type type, HashSet<Type> seen)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (!seen.Add(type) || type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(TimeSpan) || type == typeof(ByteSize)) yield break;
        if (type.IsGenericType)
        {
            yield return type;
            foreach (var argument in type.GetGenericArguments())
            {
                foreach (var inner in CollectionTypes(argument, seen)) yield return inner;
            }
            yield break;
        }
        foreach (var property in ConfigReader.BindableProperties(type))
        {
            foreach (var inner in CollectionTypes(property.PropertyType, seen)) yield return inner;
        }
    }

    /// <summary>A type as the directives spell it: List`1[[System.String,System.Private.CoreLib]].</summary>
    private static string RdXmlName(Type type) => type.IsGenericType
        ? $"{type.GetGenericTypeDefinition().FullName}[{string.Join(",", type.GetGenericArguments().Select(a => $"[{RdXmlName(a)},{a.Assembly.GetName().Name}]"))}]"
        : type.FullName!;
}
