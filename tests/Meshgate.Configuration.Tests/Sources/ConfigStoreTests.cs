using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Sources;

namespace Meshgate.Configuration.Tests.Sources;

public sealed class ConfigStoreTests
{
    private static (FileConfigStore Store, string Path) NewFile(string text)
    {
        var path = System.IO.Path.Combine(TestKit.TempDirectory.Create(), "meshgate.yaml");
        File.WriteAllText(path, text);
        return (new FileConfigStore(path), path);
    }

    [Fact]
    public async Task FileStore_RevisionIsTheHashOfTheText()
    {
        var (store, _) = NewFile("logging: {}\n");

        var stored = await store.ReadAsync();

        Assert.Equal(("logging: {}\n", ConfigCompiler.VersionOf("logging: {}\n")), (stored.Yaml, stored.Revision));
    }

    [Fact]
    public async Task FileStore_WriteWithTheCurrentRevision_ReplacesTheFileAndLeavesNoTemporaryFile()
    {
        var (store, path) = NewFile("old\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var write = await store.WriteAsync("new\n", ConfigCompiler.VersionOf("old\n"));

        Assert.True(write.Written);
        Assert.Equal(ConfigCompiler.VersionOf("new\n"), write.Current.Revision);
        Assert.Equal("new\n", await File.ReadAllTextAsync(path));
        Assert.Equal([path], Directory.GetFiles(System.IO.Path.GetDirectoryName(path)!));
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public async Task FileStore_WriteWithAStaleRevision_WritesNothingAndReturnsTheCurrent()
    {
        var (store, path) = NewFile("edited by hand\n");

        var write = await store.WriteAsync("new\n", ConfigCompiler.VersionOf("what the writer read\n"));

        Assert.False(write.Written);
        Assert.Equal(ConfigCompiler.VersionOf("edited by hand\n"), write.Current.Revision);
        Assert.Equal("edited by hand\n", await File.ReadAllTextAsync(path));
    }

    [Fact]
    public async Task Stores_ConcurrentWritesWithTheSameRevision_ExactlyOneSucceeds()
    {
        var (file, _) = NewFile("start\n");
        var memory = new MemoryConfigStore("start\n", ConfigCompiler.VersionOf("start\n"), ".");
        foreach (IConfigStore store in new IConfigStore[] { file, memory })
        {
            var revision = (await store.ReadAsync()).Revision;

            var writes = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => store.WriteAsync($"writer {i}\n", revision))));

            var winner = Assert.Single(writes, w => w.Written);
            Assert.Equal(winner.Current, await store.ReadAsync());
        }
    }
}
