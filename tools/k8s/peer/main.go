// Command durable-peer is the plain controller that the cost benchmark (test/bench/cost.ts)
// measures the operator against: a minimal controller-runtime reconcile loop that makes the same
// objects for a Database (ConfigMap, Secret, StatefulSet, the Services <name>-headless, -primary
// and -ro) and reports status.phase Ready once the StatefulSet is ready. No Temporal, no
// replication, no upgrades, no backups: what a Database costs when nothing but the objects is
// orchestrated.
//
// It reconciles only the Databases of the namespaces it is given (--namespaces), so that it never
// fights the operator under test, which is given other namespaces.
//
//	durable-peer --namespaces a,b [--kubeconfig FILE]  (else $KUBECONFIG, else in-cluster)
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

var databaseGVK = schema.GroupVersionKind{Group: "durable.dev", Version: "v1alpha1", Kind: "Database"}

func newDatabase() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(databaseGVK)
	return u
}

// spec is the part of a Database's spec this controller reads.
type spec struct {
	Engine    string                       `json:"engine"`
	Version   string                       `json:"version"`
	Image     string                       `json:"image,omitempty"`
	Replicas  *int32                       `json:"replicas,omitempty"`
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	Storage   struct {
		Size             string  `json:"size,omitempty"`
		StorageClassName *string `json:"storageClassName,omitempty"`
	} `json:"storage"`
	Scheduling struct {
		NodeSelector map[string]string   `json:"nodeSelector,omitempty"`
		Tolerations  []corev1.Toleration `json:"tolerations,omitempty"`
		Affinity     *corev1.Affinity    `json:"affinity,omitempty"`
	} `json:"scheduling"`
}

// engine holds what differs between the engines' official images.
type engine struct {
	image, passwordEnv, dataMount string
	port                          int32
	env                           []corev1.EnvVar
	probe                         []string
	configMount                   string
	config                        map[string]string
	args                          []string
}

func engineOf(s spec) (engine, error) {
	switch s.Engine {
	case "postgres":
		return engine{
			image:       "postgres:" + s.Version,
			passwordEnv: "POSTGRES_PASSWORD",
			dataMount:   "/var/lib/postgresql/data",
			port:        5432,
			env:         []corev1.EnvVar{{Name: "PGDATA", Value: "/var/lib/postgresql/data/pgdata"}},
			probe:       []string{"pg_isready", "-U", "postgres", "-h", "127.0.0.1", "-p", "5432"},
			configMount: "/etc/postgresql",
			config: map[string]string{
				"postgresql.conf": "listen_addresses = '*'\nport = 5432\nhba_file = '/etc/postgresql/pg_hba.conf'\n",
				"pg_hba.conf":     "local all all trust\nhost all all all scram-sha-256\n",
			},
			args: []string{"-c", "config_file=/etc/postgresql/postgresql.conf"},
		}, nil
	case "mariadb":
		return engine{
			image:       "mariadb:" + s.Version,
			passwordEnv: "MARIADB_ROOT_PASSWORD",
			dataMount:   "/var/lib/mysql",
			port:        3306,
			probe: []string{"sh", "-c",
				`MYSQL_PWD="$MARIADB_ROOT_PASSWORD" exec mariadb-admin ping --silent -u root -h 127.0.0.1 -P 3306`},
			configMount: "/etc/mysql/conf.d",
			config:      map[string]string{"peer.cnf": "[mysqld]\nport = 3306\n"},
		}, nil
	}
	return engine{}, fmt.Errorf("engine %q is not supported by the peer controller", s.Engine)
}

type reconciler struct {
	client.Client
	scheme *runtime.Scheme
}

func (r *reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	db := newDatabase()
	if err := r.Get(ctx, req.NamespacedName, db); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if db.GetDeletionTimestamp() != nil {
		return ctrl.Result{}, nil // owner references: the garbage collector removes the rest
	}
	var s spec
	raw, _, _ := unstructured.NestedMap(db.Object, "spec")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &s); err != nil {
		return ctrl.Result{}, r.setPhase(ctx, db, "Failed")
	}
	eng, err := engineOf(s)
	if err != nil {
		return ctrl.Result{}, r.setPhase(ctx, db, "Failed")
	}
	if s.Image != "" {
		eng.image = s.Image
	}
	replicas := int32(1)
	if s.Replicas != nil {
		replicas = *s.Replicas
	}
	name, ns := db.GetName(), db.GetNamespace()
	labels := map[string]string{
		"app.kubernetes.io/name":       s.Engine,
		"app.kubernetes.io/instance":   name,
		"app.kubernetes.io/managed-by": "durable-peer",
	}
	meta := func(n string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: n, Namespace: ns, Labels: labels} }

	secret := &corev1.Secret{ObjectMeta: meta(name + "-credentials")}
	cm := &corev1.ConfigMap{ObjectMeta: meta(name + "-config"), Data: eng.config}
	ports := []corev1.ServicePort{{Name: "db", Port: eng.port, TargetPort: intstr.FromString("db")}}
	headless := &corev1.Service{ObjectMeta: meta(name + "-headless"), Spec: corev1.ServiceSpec{
		ClusterIP: "None", PublishNotReadyAddresses: true, Selector: labels, Ports: ports}}
	primary := &corev1.Service{ObjectMeta: meta(name + "-primary"), Spec: corev1.ServiceSpec{
		Selector: merge(labels, map[string]string{"statefulset.kubernetes.io/pod-name": name + "-0"}), Ports: ports}}
	readOnly := &corev1.Service{ObjectMeta: meta(name + "-ro"), Spec: corev1.ServiceSpec{Selector: labels, Ports: ports}}
	sts := statefulSet(meta(name), s, eng, replicas, labels, secret.Name, cm.Name, headless.Name)

	// The Secret is created once with a fresh password, never read back into anything but itself.
	if err := r.ensure(ctx, db, secret, func() error {
		if secret.Data == nil {
			secret.StringData = map[string]string{"password": randomPassword()}
		}
		return nil
	}); err != nil {
		return ctrl.Result{}, err
	}
	for _, obj := range []client.Object{cm, headless, primary, readOnly} {
		if err := r.ensure(ctx, db, obj, nil); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.ensure(ctx, db, sts, func() error { want := replicas; sts.Spec.Replicas = &want; return nil }); err != nil {
		return ctrl.Result{}, err
	}
	ready := sts.Status.ObservedGeneration >= sts.Generation && sts.Status.ReadyReplicas >= replicas &&
		sts.Status.UpdatedReplicas >= replicas
	phase := "Provisioning"
	if ready {
		phase = "Ready"
	}
	return ctrl.Result{}, r.setPhase(ctx, db, phase)
}

// ensure creates obj when it does not exist; when it does, obj holds what is there and mutate (if
// any) may change it, in which case it is updated. Writes nothing when nothing changed.
func (r *reconciler) ensure(ctx context.Context, db *unstructured.Unstructured, obj client.Object, mutate func() error) error {
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, obj, func() error {
		if err := controllerutil.SetControllerReference(db, obj, r.scheme); err != nil {
			return err
		}
		if mutate != nil {
			return mutate()
		}
		return nil
	})
	if apierrors.IsAlreadyExists(err) {
		return nil // the cache had not seen it yet; the next reconcile finds it
	}
	return err
}

// setPhase writes status.phase and observedGeneration when they differ from what is there.
func (r *reconciler) setPhase(ctx context.Context, db *unstructured.Unstructured, phase string) error {
	current, _, _ := unstructured.NestedString(db.Object, "status", "phase")
	observed, _, _ := unstructured.NestedInt64(db.Object, "status", "observedGeneration")
	if current == phase && observed == db.GetGeneration() {
		return nil
	}
	before := db.DeepCopy()
	_ = unstructured.SetNestedField(db.Object, phase, "status", "phase")
	_ = unstructured.SetNestedField(db.Object, db.GetGeneration(), "status", "observedGeneration")
	return r.Status().Patch(ctx, db, client.MergeFrom(before))
}

func statefulSet(meta metav1.ObjectMeta, s spec, eng engine, replicas int32, labels map[string]string,
	secretName, configName, serviceName string) *appsv1.StatefulSet {
	size := s.Storage.Size
	if size == "" {
		size = "1Gi"
	}
	uid := int64(999)
	yes, no := true, false
	// spec.resources as given, else the operator's default (requests only).
	resources := corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")}}
	if s.Resources != nil {
		resources = *s.Resources
	}
	probe := func(period, failures int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: eng.probe}},
			PeriodSeconds: period, TimeoutSeconds: 5, FailureThreshold: failures}
	}
	env := append([]corev1.EnvVar{{Name: eng.passwordEnv, ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secretName}, Key: "password"}}}},
		eng.env...)
	return &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{
		Replicas:    &replicas,
		ServiceName: serviceName,
		Selector:    &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{
				EnableServiceLinks: &no,
				SecurityContext:    &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid},
				NodeSelector:       s.Scheduling.NodeSelector,
				Tolerations:        s.Scheduling.Tolerations,
				Affinity:           s.Scheduling.Affinity,
				Containers: []corev1.Container{{
					Name:      "database",
					Image:     eng.image,
					Args:      eng.args,
					Ports:     []corev1.ContainerPort{{Name: "db", ContainerPort: eng.port}},
					Env:       env,
					Resources: resources,
					VolumeMounts: []corev1.VolumeMount{
						{Name: "data", MountPath: eng.dataMount},
						{Name: "config", MountPath: eng.configMount, ReadOnly: true}},
					// The operator's timings, so that both controllers' pods become Ready alike.
					StartupProbe:    probe(2, 300),
					ReadinessProbe:  probe(10, 3),
					LivenessProbe:   probe(10, 6),
					SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no},
				}},
				Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
					ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: configName}}}}},
			},
		},
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: labels},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: s.Storage.StorageClassName,
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
			},
		}},
	}}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func randomPassword() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func main() {
	namespaces := flag.String("namespaces", "", "comma-separated namespaces whose Databases this controller reconciles (required)")
	flag.Parse()
	ctrl.SetLogger(zap.New())
	log := ctrl.Log.WithName("durable-peer")
	scope := map[string]cache.Config{}
	for _, ns := range strings.Split(*namespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			scope[ns] = cache.Config{}
		}
	}
	if len(scope) == 0 {
		fmt.Fprintln(os.Stderr, "durable-peer: --namespaces is required (it must not reconcile the operator's Databases)")
		os.Exit(2)
	}
	// --kubeconfig (registered by controller-runtime), else $KUBECONFIG, else in-cluster.
	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "kubeconfig")
		os.Exit(1)
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cache.Options{DefaultNamespaces: scope},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		log.Error(err, "manager")
		os.Exit(1)
	}
	err = ctrl.NewControllerManagedBy(mgr).
		Named("database").
		For(newDatabase()).
		Owns(&appsv1.StatefulSet{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}).
		Owns(&corev1.Service{}).
		Complete(&reconciler{Client: mgr.GetClient(), scheme: scheme})
	if err != nil {
		log.Error(err, "controller")
		os.Exit(1)
	}
	log.Info("started", "namespaces", *namespaces)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}
