/* A shared object that is not a Kestrel plugin: it exports no kestrel_plugin_v* symbol. */
__attribute__((visibility("default"))) int not_a_plugin(void);
int not_a_plugin(void)
{
    return 0;
}
