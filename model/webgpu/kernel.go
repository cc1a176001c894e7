package webgpu

import (
	"embed"
	"fmt"
	"strings"

	"github.com/cogentcore/webgpu/wgpu"
)

//go:embed shaders/*.wgsl
var shaderFS embed.FS

// kernelSpec describes one compute pipeline. Every kernel binds its
// parameters as a uniform at binding 0, then its storage buffers at
// bindings 1..len(writes), in the order of writes.
type kernelSpec struct {
	name   string   // cache key and label
	files  []string // shader files concatenated into one module, in order
	writes []bool   // per storage binding: true = read_write, false = read
}

// kernel is a compiled pipeline with its explicit layouts (the browser
// lacks GetBindGroupLayout, so layouts are always built by hand).
type kernel struct {
	spec     *kernelSpec
	module   *wgpu.ShaderModule
	bgl      *wgpu.BindGroupLayout
	layout   *wgpu.PipelineLayout
	pipeline *wgpu.ComputePipeline
}

func (k *kernel) release() {
	k.pipeline.Release()
	k.layout.Release()
	k.bgl.Release()
	k.module.Release()
}

// paramBytes is the size of every kernel's uniform parameter block: 32
// words, enough for the largest Params struct in the shaders.
const paramBytes = 128

func shaderSource(files []string) (string, error) {
	var b strings.Builder
	for _, f := range files {
		src, err := shaderFS.ReadFile("shaders/" + f)
		if err != nil {
			return "", fmt.Errorf("webgpu: shader %s: %w", f, err)
		}
		b.Write(src)
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// kernel returns the compiled pipeline for spec, building it on first use.
func (d *Device) kernel(spec *kernelSpec) (*kernel, error) {
	if k, ok := d.kernels[spec.name]; ok {
		return k, nil
	}
	src, err := shaderSource(spec.files)
	if err != nil {
		return nil, err
	}
	k := &kernel{spec: spec}
	k.module, err = d.dev.CreateShaderModule(&wgpu.ShaderModuleDescriptor{
		Label:          spec.name,
		WGSLDescriptor: &wgpu.ShaderModuleWGSLDescriptor{Code: src},
	})
	if err != nil {
		return nil, fmt.Errorf("webgpu: compile %s: %w", spec.name, err)
	}
	entries := []wgpu.BindGroupLayoutEntry{{
		Binding:    0,
		Visibility: wgpu.ShaderStageCompute,
		Buffer:     wgpu.BufferBindingLayout{Type: wgpu.BufferBindingTypeUniform, MinBindingSize: paramBytes},
	}}
	for i, w := range spec.writes {
		typ := wgpu.BufferBindingTypeReadOnlyStorage
		if w {
			typ = wgpu.BufferBindingTypeStorage
		}
		entries = append(entries, wgpu.BindGroupLayoutEntry{
			Binding:    uint32(i + 1),
			Visibility: wgpu.ShaderStageCompute,
			Buffer:     wgpu.BufferBindingLayout{Type: typ},
		})
	}
	k.bgl, err = d.dev.CreateBindGroupLayout(&wgpu.BindGroupLayoutDescriptor{Label: spec.name, Entries: entries})
	if err != nil {
		k.module.Release()
		return nil, fmt.Errorf("webgpu: bind group layout %s: %w", spec.name, err)
	}
	k.layout, err = d.dev.CreatePipelineLayout(&wgpu.PipelineLayoutDescriptor{Label: spec.name, BindGroupLayouts: []*wgpu.BindGroupLayout{k.bgl}})
	if err != nil {
		k.bgl.Release()
		k.module.Release()
		return nil, fmt.Errorf("webgpu: pipeline layout %s: %w", spec.name, err)
	}
	k.pipeline, err = d.dev.CreateComputePipeline(&wgpu.ComputePipelineDescriptor{
		Layout:  k.layout,
		Compute: wgpu.ProgrammableStageDescriptor{Module: k.module, EntryPoint: "main"},
	})
	if err != nil {
		k.layout.Release()
		k.bgl.Release()
		k.module.Release()
		return nil, fmt.Errorf("webgpu: pipeline %s: %w", spec.name, err)
	}
	d.kernels[spec.name] = k
	return k, nil
}
